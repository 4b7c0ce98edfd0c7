"""The distribution configs mediapub asks for, and what the local stack says when nginx is
missing."""

from __future__ import annotations

from pathlib import Path

from pipeline import distributions, storage
from pipeline.config import load_settings
from pipeline.local.edges import NginxEdges
from pipeline.local.stack import HTTP_MISSING, RTMP_MISSING, LocalStack


def test_download_config_two_origins_and_https_policy(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    config = distributions.download_config(settings)
    assert config["CallerReference"] == "mediapub-download-mediapub-player"
    assert [o["DomainName"] for o in config["Origins"]["Items"]] == [
        "mediapub-player.s3.amazonaws.com",
        "mediapub-media.s3.amazonaws.com",
    ]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    patterns = [(b["PathPattern"], b["TargetOriginId"]) for b in config["CacheBehaviors"]["Items"]]
    assert patterns == [("media/*", "media"), ("crossdomain.xml", "media")]
    plain = load_settings(cwd=tmp_path, env={}, overrides={"player.https": False})
    assert (
        distributions.download_config(plain)["DefaultCacheBehavior"]["ViewerProtocolPolicy"]
        == "allow-all"
    )


def test_download_config_one_origin_when_buckets_are_the_same(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={}, overrides={"player.bucket": "mediapub-media"})
    config = distributions.download_config(settings)
    assert config["Origins"]["Quantity"] == 1
    assert config["CacheBehaviors"] == {"Quantity": 0}


def test_crossdomain_xml_lists_each_domain_once() -> None:
    xml = storage.crossdomain_xml(["d1.cloudfront.net", "media.example.com", "d1.cloudfront.net"])
    assert xml.decode() == (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">\n'
        "<cross-domain-policy>\n"
        '  <site-control permitted-cross-domain-policies="master-only"/>\n'
        '  <allow-access-from domain="d1.cloudfront.net" secure="false"/>\n'
        '  <allow-access-from domain="media.example.com" secure="false"/>\n'
        "</cross-domain-policy>\n"
    )


def test_stack_says_what_will_not_play_without_nginx(tmp_path: Path) -> None:
    stack = LocalStack()
    stack.edges = NginxEdges(tmp_path, "http://127.0.0.1:9", nginx="/nonexistent/nginx")
    assert stack.warnings() == [HTTP_MISSING]
    assert "apt-get install nginx libnginx-mod-rtmp" in HTTP_MISSING
    stack.edges = NginxEdges(tmp_path, "http://127.0.0.1:9", rtmp_module=tmp_path / "none.so")
    if stack.http_available:
        assert stack.warnings() == [RTMP_MISSING]
        assert "RTMP URLs will not play" in RTMP_MISSING
