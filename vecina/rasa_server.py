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

    sys.argv = ["rasa", *rasa_arguments(settings, Path(args.model))]
    rasa_main()


if __name__ == "__main__":
    main()
