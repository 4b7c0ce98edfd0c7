"""The local RTMP edge's MP3 fallback origin."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from pipeline.context import make_clients
from pipeline.local.mp3 import mp3_key
from pipeline.local.stack import LocalStack

from .conftest import SAMPLES, need, unique


def test_mp3_key() -> None:
    assert mp3_key("mp3:media/audio/tone.flv") == "media/audio/tone.mp3"
    assert mp3_key("media/clip.flv") is None
    assert mp3_key("mp3:media/clip.mp4") is None


def test_serves_public_mp3_as_flv_and_keeps_private_private(stack: LocalStack) -> None:
    need("ffmpeg")
    assert stack.mp3 is not None
    s3, _ = make_clients("us-east-1", stack.endpoint_url, local=True)
    bucket = unique("mp3")
    s3.create_bucket(Bucket=bucket)
    body = (SAMPLES / "audio" / "tone.mp3").read_bytes()
    s3.put_object(Bucket=bucket, Key="a b/tone.mp3", Body=body, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="secret.mp3", Body=body)
    url = f"{stack.mp3.url}/{bucket}/mp3:a%20b/tone.flv?addr=127.0.0.1"
    with urllib.request.urlopen(url, timeout=30) as reply:
        flv = reply.read()
        assert reply.headers["Content-Type"] == "video/x-flv"
    assert flv[:3] == b"FLV"
    with pytest.raises(urllib.error.HTTPError) as private:
        urllib.request.urlopen(f"{stack.mp3.url}/{bucket}/mp3:secret.flv", timeout=30)
    assert private.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as other:
        urllib.request.urlopen(f"{stack.mp3.url}/{bucket}/clip.flv", timeout=30)
    assert other.value.code == 404
