"""Start the Rasa server the way Vecina runs it: `python -m vecina.rasa_server --model M`.

Rasa's own command line takes the JWT secret as an argument, where every local user can read it
(`ps`). This launcher reads it from the environment (VECINA_RASA_JWT_SECRET) and hands it to
Rasa's command line inside this process, whose visible arguments stay the ones above. Rasa's HTTP
API is enabled only with that secret (Settings refuses VECINA_RASA_ENABLE_API without it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from vecina.settings import Settings, get_settings


def validate_action_responses_once() -> None:
    """Check action server responses against a schema compiled once.

    Rasa 3.6 calls `jsonschema.validate` for every action response, which first re-checks Rasa's
    own (constant) schema against its meta-schema: a third of the server's time at load
    (docs/performance.md). The responses are still checked the same way, with the same errors.
    """
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator = validators.validator_for(schema)(schema)

    def validate(self: RemoteAction, result: dict) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (f". Failed to validate Action server response from API, make sure your response from "
                          f"the Action endpoint is valid. For more information about the format visit "
                          f"{DOCS_BASE_URL}/custom-actions")
        raise error

    RemoteAction._validate_action_result = validate


def rasa_arguments(settings: Settings, model: Path) -> List[str]:
    arguments = ["run", "--model", str(model), "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                 "--port", str(settings.rasa_port), "--interface", settings.bind_host, "--cors", "*"]
    if settings.rasa_enable_api:
        arguments += ["--enable-api", "--jwt-secret", str(settings.rasa_jwt_secret), "--jwt-method", "HS256"]
    return arguments


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vecina.rasa_server")
    parser.add_argument("--model", required=True)
    args = parser.parse_args(argv)
    settings = get_settings()
    from rasa.__main__ import main as rasa_main

    from vecina.channels import turns
    from vecina.tracker_store import fail_closed

    validate_action_responses_once()
    fail_closed()
    turns.install()
    sys.argv = ["rasa", *rasa_arguments(settings, Path(args.model))]
    rasa_main()


if __name__ == "__main__":
    main()
