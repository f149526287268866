"""tapsync.yaml: discovery, schema, secrets, environment overrides, https enforcement."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapsync.config import check_base_url, find_config, load_config
from tapsync.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tapsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_every_provider(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "version: 1\n"), {})
    assert cfg.manifests == (tmp_path / "manifests/",)
    amp = cfg.providers["amplitude"]
    assert amp.base_url == "https://amplitude.com"
    assert (amp.budget.concurrent_cost, amp.budget.hourly_cost, amp.budget.reserve) == (4, 7200, 0)
    assert amp.credential_env == {"api_key": "AMPLITUDE_API_KEY",
                                  "secret_key": "AMPLITUDE_SECRET_KEY"}
    assert cfg.providers["taplytics"].credential_env == {"api_token": "TAPLYTICS_API_TOKEN"}
    assert cfg.safety.max_delete_percent == 30 and cfg.safety.prune is False


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "version: 1\nmanifests: [a/, b.yaml]\n"), {})
    assert cfg.manifests == (tmp_path / "a/", tmp_path / "b.yaml")


def test_literal_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders:\n  amplitude:\n"
                           "    secret_key: hunter2-VERY-secret\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert "hunter2" not in message
    assert f"{path}:4:17: $.providers.amplitude.secret_key: looks like a literal secret" in message


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders:\n  amplitude:\n    base_url: http://example.com\n"
                           "  bogus: {}\nsafety:\n  colour: 3\n  max_delete_percent: lots\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    lines = str(info.value).splitlines()[1:]
    assert f"{path}:4:15: $.providers.amplitude.base_url: 'http://example.com' must be an " \
           "https:// URL" in "\n".join(lines)
    assert any(line.startswith(f"{path}:5:3: $.providers: unknown key(s): bogus") for line in lines)
    assert any(line.startswith(f"{path}:7:3: $.safety: unknown key(s): colour") for line in lines)
    assert any(line.startswith(f"{path}:8:23: $.safety.max_delete_percent: value is not of type")
               for line in lines)


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders: [\n  amplitude\n")
    with pytest.raises(ConfigError, match=rf"{path}:4:1: malformed YAML"):
        load_config(path, {})


def test_base_url_env_override_and_loopback_http(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n")
    cfg = load_config(path, {"TAPSYNC_AMPLITUDE_BASE_URL": "http://127.0.0.1:8765/"})
    assert cfg.providers["amplitude"].base_url == "http://127.0.0.1:8765"
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        load_config(path, {"TAPSYNC_TAPLYTICS_BASE_URL": "http://10.0.0.5"})


@pytest.mark.parametrize("url", ["https://amplitude.com", "http://localhost:1",
                                 "http://127.3.4.5", "http://[::1]:80"])
def test_allowed_urls(url: str) -> None:
    check_base_url(url, where="x")


@pytest.mark.parametrize("url", ["http://amplitude.com", "ftp://x", "amplitude.com",
                                 "http://192.168.1.1", "https://"])
def test_refused_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        check_base_url(url, where="x")


def test_environment_selects_provider_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, """version: 1
providers:
  amplitude: {budget: {hourly_cost: 5000}}
environments:
  prod:
    providers:
      amplitude:
        api_key_env: AMPLITUDE_PROD_API_KEY
        base_url: https://analytics.eu.amplitude.com
        budget: {reserve: 100}
""")
    cfg = load_config(path, {}, "prod")
    amp = cfg.providers["amplitude"]
    assert amp.credential_env["api_key"] == "AMPLITUDE_PROD_API_KEY"
    assert amp.credential_env["secret_key"] == "AMPLITUDE_SECRET_KEY"
    assert amp.base_url == "https://analytics.eu.amplitude.com"
    assert (amp.budget.hourly_cost, amp.budget.reserve) == (5000, 100)
    with pytest.raises(ConfigError, match="unknown environment 'staging' \\(prod\\)"):
        load_config(path, {}, "staging")


def test_find_config_order(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\n")
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\n")
    assert find_config(None, {}, tmp_path) == tmp_path / "tapsync.yaml"
    assert find_config(None, {"TAPSYNC_CONFIG": str(other)}, tmp_path) == other
    assert find_config("tapsync.yaml", {"TAPSYNC_CONFIG": str(other)}, tmp_path) \
        == tmp_path / "tapsync.yaml"
    with pytest.raises(ConfigError, match="no configuration at"):
        find_config(None, {}, tmp_path / "nowhere")


def test_environment_overrides_obey_the_manifest_schema(tmp_path: Path) -> None:
    from tapsync.engine import apply_overrides
    from tapsync.model import Resource, ResourceKey, State

    path = write(tmp_path, """version: 1
environments:
  prod:
    overrides:
      'amplitude.event_type["Play Song"]': {description: Prod text}
  bad:
    overrides:
      'amplitude.event_type["Play Song"]': {colour: red, description: 5}
      'amplitude.event_type["Gone"]': {description: x}
      'amplitude.event_type["Nowhere"]': {description: x}
""")
    play = ResourceKey("amplitude", "event_type", ("Play Song",))
    gone = ResourceKey("amplitude", "event_type", ("Gone",))
    desired = State([Resource(play, {"description": "Dev text", "category": "Media"}),
                     Resource(gone, absent=True)])
    prod = apply_overrides(desired, load_config(path, {}, "prod")).get(play)
    assert prod is not None
    assert prod.attrs == {"description": "Prod text", "category": "Media"}
    with pytest.raises(ConfigError) as info:
        apply_overrides(desired, load_config(path, {}, "bad"))
    message = str(info.value)
    assert "'colour' was unexpected" in message
    assert "description: 5 is not of type" in message
    assert 'amplitude.event_type["Gone"] is a tombstone' in message
    assert 'amplitude.event_type["Nowhere"] is not declared in the manifests' in message


def test_each_environment_has_its_own_sandbox(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nenvironments: {staging: {}, prod: {}}\n")
    dbs = {load_config(path, {}, env).sandbox_db for env in (None, "staging", "prod")}
    assert dbs == {tmp_path / ".tapsync" / n
                   for n in ("sandbox.db", "sandbox-staging.db", "sandbox-prod.db")}


@pytest.mark.parametrize("url", ["https://user:hunter2@amplitude.com",
                                 "https://hunter2@amplitude.com/",
                                 "http://me:hunter2@127.0.0.1:8765",
                                 "https://me:hunt@er2@amplitude.com",
                                 "https://me:hunter2/x@amplitude.com",
                                 # digits then '#', '/' or '?': parsed as host 'admin' and
                                 # port 1234, with no '@' left in what urlsplit calls netloc
                                 "https://admin:1234#hunter2@api.taplytics.com",
                                 "https://admin:1234/hunter2@api.taplytics.com",
                                 "https://admin:1234?hunter2@api.taplytics.com",
                                 "https://admin:1234#hunter2@api.taplytics.com/v1?k=hunter2",
                                 "https://admin:hunter2@api.taplytics.com#hunter2"])
def test_userinfo_in_a_base_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_base_url(url, where="tapsync.yaml:4:15: $.providers.amplitude.base_url")
    message = str(info.value)
    assert message.startswith("tapsync.yaml:4:15: $.providers.amplitude.base_url: ")
    assert "hunter2" not in message and "er2" not in message
    assert "credentials come only from the environment" in message


@pytest.mark.parametrize("url", ["https://api.taplytics.com#hunter2",
                                 "https://admin:1234#hunter2", "https://api.taplytics.com#"])
def test_a_fragment_in_a_base_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_base_url(url, where="tapsync.yaml:4:15: $.providers.taplytics.base_url")
    message = str(info.value)
    assert message.startswith("tapsync.yaml:4:15: $.providers.taplytics.base_url: the URL "
                              "must not have a fragment")
    assert "hunter2" not in message and "1234" not in message


def test_userinfo_is_masked_down_to_the_host() -> None:
    with pytest.raises(ConfigError) as info:
        check_base_url("https://admin:1234#s3cret@api.taplytics.com/x?t=1", where="x")
    assert str(info.value).startswith("x: 'https://***@api.taplytics.com' must not carry "
                                      "credentials (user:password@)")


def test_userinfo_is_refused_in_the_file_and_in_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders:\n  taplytics:\n"
                           "    base_url: https://bot:s3cr3t-pw@api.taplytics.com\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert f"{path}:4:15: $.providers.taplytics.base_url: 'https://***@api.taplytics.com' " \
           "must not carry credentials" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "version: 1\n"),
                    {"TAPSYNC_AMPLITUDE_BASE_URL": "https://k:s3cr3t-pw@amplitude.com"})
    assert "providers.amplitude.base_url" in str(info.value) and "s3cr3t" not in str(info.value)
