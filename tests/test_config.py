"""The settings schema: defaults, file, environment, flags, and the exact error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError, ExitStatus


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mediapub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, env={})
    assert caught.value.exit_status == ExitStatus.CONFIG
    return str(caught.value)


def test_no_config_file_means_local_defaults(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.target == "local"
    assert settings.config_path is None
    assert settings.streaming.bucket == "mediapub-media"
    assert settings.streaming.prefix == "media/"
    assert settings.delivery == ("rtmp", "http")
    assert settings.site_dir == tmp_path.resolve() / "site"
    assert settings.state_dir == tmp_path.resolve() / ".mediapub"
    assert settings.warnings == ()


def test_file_values_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "other.toml"
    config.write_text(
        'target = "aws"\nsite_dir = "out"\n[streaming]\nbucket = "my-media"\n'
        'prefix = "videos"\ncnames = ["media.example.com"]\nprice_class = "PriceClass_100"\n'
        '[streaming.logging]\nenabled = true\nbucket = "logs.s3.amazonaws.com"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, cwd=tmp_path, env={})
    assert settings.target == "aws"
    assert settings.site_dir == folder.resolve() / "out"
    assert settings.streaming.bucket == "my-media"
    assert settings.streaming.prefix == "videos/"
    assert settings.streaming.cnames == ("media.example.com",)
    assert settings.streaming.logging.enabled is True
    assert settings.streaming.price_class == "PriceClass_100"


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    write(tmp_path, 'region = "eu-west-1"\n[streaming]\nbucket = "from-file"\n')
    env = {"MEDIAPUB_STREAMING_BUCKET": "from-env", "MEDIAPUB_SITE_UPLOAD": "false"}
    settings = load_settings(cwd=tmp_path, env=env)
    assert settings.streaming.bucket == "from-env"
    assert settings.site.upload is False
    assert settings.region == "eu-west-1"
    flags = load_settings(cwd=tmp_path, env=env, overrides={"streaming.bucket": "from-flag"})
    assert flags.streaming.bucket == "from-flag"


def test_unknown_keys_and_variables_warn(tmp_path: Path) -> None:
    write(tmp_path, 'colour = "blue"\n[streaming]\nbukket = "x"\n')
    settings = load_settings(cwd=tmp_path, env={"MEDIAPUB_NOPE": "1"})
    assert any("unknown key colour ignored" in w for w in settings.warnings)
    assert any("unknown key streaming.bukket ignored" in w for w in settings.warnings)
    assert any("unknown variable MEDIAPUB_NOPE" in w for w in settings.warnings)


def test_too_many_cnames(tmp_path: Path) -> None:
    names = ", ".join(f'"m{i}.example.com"' for i in range(12))
    message = error_of(tmp_path, f"[streaming]\ncnames = [{names}]\n")
    assert message == (
        "streaming.cnames (mediapub.toml): expected at most 10 aliases; got a list of 12 names. "
        "Fix: remove 2 of them."
    )


def test_bad_bucket_name(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[streaming]\nbucket = "My_Bucket"\n')
    assert message == (
        "streaming.bucket (mediapub.toml): expected a bucket name valid for S3 and DNS; it may "
        "use only lowercase letters, digits and hyphens, starting and ending with one; "
        'got "My_Bucket".'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[streaming]\nbucket = "a.b.c"', "must not contain dots"),
        ('[streaming]\nbucket = "ab"', "must be 3 to 63 characters long"),
        ('[streaming]\nprice_class = "PriceClass_50"', 'one of "PriceClass_100"'),
        ('[streaming]\ncomment = "' + "x" * 129 + '"', "at most 128 characters, got 129"),
        ('[streaming]\ncnames = ["not a host"]', '"not a host" is not one'),
        ('target = "gcp"', 'target (mediapub.toml): expected one of "local", "aws"; got "gcp"'),
        ("[streaming]\nenabled = 1", "expected true or false; got 1"),
        ('delivery = ["rtmp"]', 'expected ["rtmp", "http"] or ["http"]'),
        ('[watch]\nafter = "shred"', 'one of "keep", "archive", "delete"'),
        ('[streaming]\nprefix = "../up"', "without empty"),
        ("streaming = 3", "streaming: expected a table ([streaming]), got 3."),
    ],
)
def test_each_rule_names_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text + "\n")


def test_logging_needs_a_bucket_in_s3_domain_form(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[streaming.logging]\nenabled = true\n")
    assert message.startswith("streaming.logging.bucket: expected a bucket for the access logs")
    message = error_of(tmp_path, '[streaming.logging]\nenabled = true\nbucket = "logs"\n')
    assert message == (
        'streaming.logging.bucket: expected the form "name.s3.amazonaws.com"; got "logs". '
        'Fix: write the bucket as "logs.s3.amazonaws.com".'
    )


def test_invalid_toml_and_missing_config(tmp_path: Path) -> None:
    message = error_of(tmp_path, "target = \n")
    assert "not valid TOML" in message and "Fix the syntax" in message
    with pytest.raises(ConfigError, match=r"--config .*nope\.toml: no such file"):
        load_settings(tmp_path / "nope.toml", cwd=tmp_path, env={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, env={"MEDIAPUB_STREAMING_PRICE_CLASS": "cheap"})
    assert str(caught.value).startswith(
        "streaming.price_class (environment MEDIAPUB_STREAMING_PRICE_CLASS): expected one of"
    )


def test_endpoint_url_with_local_target_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'endpoint_url = "http://127.0.0.1:5000"\n')
    assert 'set target = "aws" to use that endpoint' in message


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.target = "aws"  # type: ignore[misc]


def test_site_templates_are_found_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf" / "my templates").mkdir(parents=True)
    (tmp_path / "conf" / "mediapub.toml").write_text('[site]\ntemplates = "my templates"\n')
    settings = load_settings(tmp_path / "conf" / "mediapub.toml", env={})
    assert settings.site.templates == str(tmp_path / "conf" / "my templates")
    message = error_of(tmp_path, '[site]\ntemplates = "missing"\n')
    assert message.startswith(
        'site.templates: expected a folder of template overrides; got "missing"'
    )
