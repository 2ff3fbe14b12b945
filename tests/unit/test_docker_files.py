"""The container files keep citizens' data and local files out of images, fail the build when the
content, the training data or the training fails, run every image as a non-root user from a base
image chosen by build argument, publish ports only through the reverse proxy (on named interfaces),
keep Rasa, the action server and the databases on internal networks, give each service only the
secrets it uses, and keep every long-running service health-checked and restarted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
IMAGES = ("rasa", "actions", "proxy")
LONG_RUNNING = ("proxy", "rasa", "actions", "web", "console", "scheduler", "postgres", "redis")
OUR_IMAGES = ("proxy", "rasa", "actions", "web", "console", "scheduler", "kb-load")
CHANNEL_SECRETS = ("VECINA_WHATSAPP_ACCESS_TOKEN", "VECINA_WHATSAPP_APP_SECRET", "VECINA_WHATSAPP_VERIFY_TOKEN",
                   "VECINA_TELEGRAM_TOKEN", "VECINA_TELEGRAM_SECRET_TOKEN", "VECINA_TWILIO_AUTH_TOKEN")


def compose(name: str = "compose.yml") -> dict:
    path = DOCKER / name
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    # PyYAML, as compose v1 reads it; ruamel.yaml would expand ${...} once Rasa is imported (it registers
    # an environment-variable resolver globally).
    return yaml.safe_load(path.read_text())


def services(*names: str) -> Dict[str, dict]:
    """Services of one or more compose files, later files merged over earlier ones (environment
    and networks added, as compose does)."""
    merged: Dict[str, dict] = {}
    for name in names or ("compose.yml",):
        for service, spec in compose(name)["services"].items():
            target = merged.setdefault(service, {})
            for key, value in spec.items():
                if key == "environment":
                    target["environment"] = {**environment(target), **environment({key: value})}
                elif key == "networks":
                    target["networks"] = sorted(set(target.get("networks") or []) | set(value or []))
                else:
                    target[key] = value
    return merged


def environment(spec: dict) -> Dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) for key, value in env.items()}


def networks(spec: dict) -> List[str]:
    return list(spec.get("networks") or ["default"])


def reaches(secret: str, spec: dict) -> bool:
    """Whether a service gets the secret: as a variable of its own or inside another value."""
    return any(key == secret or "${" + secret in value for key, value in environment(spec).items())


def with_defaults(text: str) -> str:
    """Compose's interpolation with nothing set: ${NAME:-default} becomes default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def instructions(name: str) -> List[Tuple[str, str]]:
    """A Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    path = DOCKER / f"{name}.Dockerfile"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def final_stage(name: str) -> List[Tuple[str, str]]:
    steps = instructions(name)
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def dockerignore() -> Set[str]:
    path = ROOT / ".dockerignore"
    assert path.is_file(), ".dockerignore is missing: COPY . . would bake var/, .venv and .git into the image"
    lines = [line.strip() for line in path.read_text().splitlines()]
    assert not [line for line in lines if line.startswith("!")], "no exceptions: they re-include what is left out"
    return {line.strip("/") for line in lines if line and not line.startswith("#")}


@pytest.mark.parametrize("pattern", ["var", ".venv", ".git", "models", ".rasa", ".env", "**/*.db",
                                     "**/__pycache__", ".pytest_cache", "**/*.crt"])
def test_the_image_context_leaves_out_private_and_local_files(pattern: str) -> None:
    assert pattern in dockerignore()


@pytest.mark.parametrize("image", IMAGES)
def test_no_build_step_hides_a_failure(image: str) -> None:
    for keyword, arguments in instructions(image):
        assert not re.search(r"\|\|\s*(true|:)(\s|$)", arguments), f"{keyword} {arguments}"


def test_the_rasa_image_is_built_only_from_valid_content_data_and_a_trained_model() -> None:
    commands = " && ".join(arguments for keyword, arguments in instructions("rasa") if keyword == "RUN")
    for step in ("vecina kb validate", "vecina kb lookups", "vecina data validate", "vecina train"):
        assert step in commands


@pytest.mark.parametrize("image", IMAGES)
def test_images_run_as_a_non_root_user(image: str) -> None:
    users = [arguments for keyword, arguments in final_stage(image) if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("image, official", [("rasa", "python:3.10-slim"), ("actions", "rasa/rasa-sdk:3.6.2"),
                                             ("proxy", "debian:bookworm-slim")])
def test_the_base_image_is_a_build_argument_with_an_official_default(image: str, official: str) -> None:
    """A town hall builds from official images; a machine without a registry passes its own."""
    steps = instructions(image)
    defaults = dict(arguments.split("=", 1) for keyword, arguments in steps if keyword == "ARG" and "=" in arguments)
    stages = {arguments.split()[-1] for keyword, arguments in steps if keyword == "FROM" and " AS " in arguments.upper()}
    for keyword, arguments in steps:
        if keyword == "FROM":
            base = arguments.split()[0]
            assert base in stages or re.fullmatch(r"\$\{\w+\}", base), f"FROM {arguments}: use a build argument"
    assert defaults.get("BASE_IMAGE") == official


def test_the_slim_image_holds_every_package_of_the_project() -> None:
    """The rasa image copies the whole context; the slim one names what it copies, so a package
    added to pyproject.toml (e.g. rasa_sdk_plugins, which rasa-sdk skips silently when absent)
    must be named there too."""
    found = re.search(r"^include = \[(.*)\]", (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    packages = {name.strip(' "*') for name in found.group(1).split(",")}
    copied = {arguments.split()[0] for keyword, arguments in instructions("actions") if keyword == "COPY"}
    assert packages <= copied


@pytest.mark.parametrize("image", ["rasa", "actions"])
def test_the_media_volume_belongs_to_the_runtime_user(image: str) -> None:
    """A named volume takes the owner of the image's directory: created for uid 1001 before VOLUME."""
    steps = final_stage(image)
    volume = next((index for index, (keyword, arguments) in enumerate(steps)
                   if keyword == "VOLUME" and "/media" in arguments), None)
    assert volume is not None, "declare /media a volume"
    created = [arguments for keyword, arguments in steps[:volume] if keyword == "RUN"
               and re.search(r"(install -d -o (vecina|1001)\b[^&]*/media\b|chown [^ ]*(vecina|1001)[^ ]* [^&]*/media\b)", arguments)]
    assert created, "create /media owned by the runtime user before declaring the volume"
    assert [arguments for keyword, arguments in steps if keyword == "USER"][-1] in ("vecina", "1001")


def test_only_the_proxy_publishes_ports() -> None:
    assert {name for name, spec in services().items() if spec.get("ports")} == {"proxy"}


@pytest.mark.parametrize("service", ["proxy", "rasa", "web", "console"])
def test_published_ports_name_their_interface(service: str) -> None:
    for port in services()[service].get("ports") or []:
        address = with_defaults(str(port)).rsplit(":", 2)
        assert len(address) == 3 and address[0] not in ("", "0.0.0.0", "::", "[::]"), port


@pytest.mark.parametrize("service", ["rasa", "actions", "web", "console", "scheduler", "kb-load", "postgres", "redis"])
def test_everything_behind_the_proxy_is_on_internal_networks_only(service: str) -> None:
    declared = compose().get("networks") or {}
    for network in networks(services()[service]):
        assert (declared.get(network) or {}).get("internal") is True, f"{service} on {network}"


def test_the_proxy_alone_faces_outside() -> None:
    declared = compose().get("networks") or {}
    outside = {name for name, spec in services().items()
               if any(not (declared.get(network) or {}).get("internal") for network in networks(spec))}
    assert outside == {"proxy"}


@pytest.mark.parametrize("variable, users", [
    ("VECINA_RASA_JWT_SECRET", {"rasa", "console", "scheduler"}),
    ("VECINA_TRACKER_URL", {"rasa", "console"}),
    ("VECINA_WEBCHAT_SECRET", {"rasa", "web"}),
    ("VECINA_REST_TOKEN", {"rasa"}),
    ("POSTGRES_PASSWORD", {"postgres", "kb-load", "rasa", "actions", "web", "console", "scheduler"}),
])
def test_a_secret_reaches_only_the_services_that_use_it(variable: str, users: Set[str]) -> None:
    assert {name for name, spec in services().items() if reaches(variable, spec)} == users


@pytest.mark.parametrize("secret", CHANNEL_SECRETS)
def test_channel_secrets_reach_rasa_only(secret: str) -> None:
    assert {name for name, spec in services("compose.yml", "compose.channels.yml").items()
            if reaches(secret, spec)} == {"rasa"}


def test_with_channels_rasa_gains_a_way_out_and_still_publishes_nothing() -> None:
    merged = services("compose.yml", "compose.channels.yml")
    egress = compose("compose.channels.yml")["networks"]
    assert {name for name, spec in merged.items() if set(networks(spec)) & set(egress)} == {"rasa"}
    assert not any((spec or {}).get("internal") for spec in egress.values()) and not merged["rasa"].get("ports")


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_are_health_checked_and_restarted(service: str) -> None:
    spec = services()[service]
    assert (spec.get("healthcheck") or {}).get("test"), f"{service} has no healthcheck"
    assert spec.get("restart") == "unless-stopped"


@pytest.mark.parametrize("service", OUR_IMAGES)
def test_our_containers_drop_every_capability(service: str) -> None:
    spec = services()[service]
    assert "ALL" in (spec.get("cap_drop") or []) and "no-new-privileges:true" in (spec.get("security_opt") or [])


def proxied_to_rasa() -> List[str]:
    path = DOCKER / "nginx.conf"
    assert path.is_file(), "docker/nginx.conf is missing"
    blocks = re.findall(r"location\s+([^{]+)\{([^}]*)\}", path.read_text())
    return [where.strip() for where, body in blocks if "rasa:5005" in body]


def test_the_proxy_passes_only_socket_io_and_the_providers_webhooks_to_rasa() -> None:
    routes = proxied_to_rasa()
    assert routes and all(route == "/socket.io/" or route.startswith("~ ^/webhooks/(") for route in routes)
    assert not [route for route in routes if "rest" in route], "/webhooks/rest/webhook stays internal"
    for path in ("/webhooks/whatsapp/webhook", "/webhooks/telegram/webhook", "/webhooks/twilio/webhook",
                 "/webhooks/twilio/status", "/webhooks/twilio_voice/webhook"):
        assert any(re.fullmatch(route[2:], path) for route in routes if route.startswith("~ ")), path
