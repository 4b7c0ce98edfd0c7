"""AWS error paths the local stack cannot produce: botocore's Stubber with exact parameters,
and a provider that refuses RTMP, answered at the HTTP layer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from pipeline import distributions, publisher, storage
from pipeline.config import Settings
from pipeline.context import make_clients
from pipeline.errors import AWSError, ExitStatus

from .conftest import SAMPLES

CLIENT_ARGS = ("us-east-1", "http://127.0.0.1:9")  # never contacted: every call is stubbed


def clients() -> tuple[Any, Any]:
    return make_clients(*CLIENT_ARGS, local=True)


def test_acl_not_supported_names_the_object_and_the_fix(tmp_path: Path) -> None:
    s3, _ = clients()
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"0123")
    upload = storage.Upload("media-bucket", "media/clip.mp4", path, "video/mp4", "ab", True)
    with Stubber(s3) as stub:
        stub.add_client_error(
            "put_object",
            service_error_code="AccessControlListNotSupported",
            service_message="The bucket does not allow ACLs",
            http_status_code=400,
            expected_params={
                "Bucket": "media-bucket",
                "Key": "media/clip.mp4",
                "Body": ANY,
                "ACL": "public-read",
                "ContentType": "video/mp4",
                "Metadata": {"sha256": "ab"},
            },
        )
        with pytest.raises(AWSError) as caught:
            storage.upload_file(s3, upload)
    assert caught.value.code == "AccessControlListNotSupported"
    assert caught.value.exit_status == ExitStatus.AWS
    assert str(caught.value) == (
        "uploading clip.mp4 to s3://media-bucket/media/clip.mp4: AccessControlListNotSupported: "
        "The bucket does not allow ACLs. The bucket does not allow ACLs (Object Ownership is "
        'BucketOwnerEnforced). Set streaming.public_access = "policy" to publish through a '
        "bucket policy instead."
    )


def test_bucket_owned_by_someone_else() -> None:
    s3, _ = clients()
    with Stubber(s3) as stub:
        stub.add_client_error(
            "head_bucket",
            service_error_code="403",
            http_status_code=403,
            expected_params={"Bucket": "taken-bucket"},
        )
        with pytest.raises(AWSError, match="bucket taken-bucket: exists but these credentials"):
            storage.ensure_bucket(s3, "taken-bucket", "us-east-1")


def test_bucket_created_with_location_outside_us_east_1() -> None:
    s3, _ = clients()
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        stub.add_response(
            "create_bucket",
            {},
            {
                "Bucket": "eu-bucket",
                "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
            },
        )
        assert storage.ensure_bucket(s3, "eu-bucket", "eu-west-1") is True


def test_block_public_access_refusal_explains_the_setting() -> None:
    s3, _ = clients()
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
        stub.add_client_error(
            "put_bucket_policy",
            "AccessDenied",
            "public policies are blocked",
            http_status_code=403,
            expected_params={"Bucket": "media-bucket", "Policy": ANY},
        )
        with pytest.raises(AWSError) as caught:
            storage.ensure_public_policy(s3, "media-bucket", ["media/"], manage_block=False)
    assert "streaming.manage_public_access_block = true" in str(caught.value)
    assert str(caught.value).startswith("bucket media-bucket policy: AccessDenied")


def empty_listing() -> dict[str, Any]:
    return {
        "StreamingDistributionList": {
            "Marker": "",
            "MaxItems": 100,
            "IsTruncated": False,
            "Quantity": 0,
        }
    }


def test_rtmp_refused_quotes_the_provider_and_explains() -> None:
    _, cloudfront = clients()
    settings = Settings()
    with Stubber(cloudfront) as stub:
        stub.add_response("list_streaming_distributions", empty_listing(), {})
        stub.add_client_error(
            "create_streaming_distribution",
            "AccessDenied",
            "Your account is not allowed to create RTMP distributions",
            http_status_code=403,
            expected_params={
                "StreamingDistributionConfig": distributions.streaming_config(settings)
            },
        )
        with pytest.raises(distributions.RtmpRefused) as caught:
            distributions.ensure_streaming(cloudfront, settings)
    message = str(caught.value)
    assert message.startswith(
        "The provider refused to create the streaming distribution (AccessDenied: Your account "
        "is not allowed to create RTMP distributions)."
    )
    assert "retired RTMP (streaming) distributions on 2020-12-31" in message
    assert 'delivery = ["http"]' in message


def test_streaming_config_is_exactly_what_the_seed_asks(tmp_path: Path) -> None:
    from pipeline.config import load_settings

    settings = load_settings(
        cwd=tmp_path,
        env={},
        overrides={
            "streaming.cnames": ["a.example.com", "b.example.com"],
            "streaming.price_class": "PriceClass_100",
            "streaming.enabled": False,
            "streaming.comment": "clips",
        },
    )
    assert distributions.streaming_config(settings) == {
        "CallerReference": "mediapub-streaming-mediapub-media",
        "S3Origin": {"DomainName": "mediapub-media.s3.amazonaws.com", "OriginAccessIdentity": ""},
        "Aliases": {"Quantity": 2, "Items": ["a.example.com", "b.example.com"]},
        "Comment": "clips",
        "Logging": {"Enabled": False, "Bucket": "", "Prefix": ""},
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
        "PriceClass": "PriceClass_100",
        "Enabled": False,
    }


def summary(dist_id: str, comment: str) -> dict[str, Any]:
    return {
        "Id": dist_id,
        "ARN": f"arn:aws:cloudfront::1:streaming-distribution/{dist_id}",
        "Status": "Deployed",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
        "DomainName": f"{dist_id.lower()}.cloudfront.net",
        "S3Origin": {"DomainName": "mediapub-media.s3.amazonaws.com", "OriginAccessIdentity": ""},
        "Aliases": {"Quantity": 0},
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
        "Comment": comment,
        "PriceClass": "PriceClass_All",
        "Enabled": True,
    }


def full(dist_id: str) -> dict[str, Any]:
    config = distributions.streaming_config(Settings())
    return {
        "StreamingDistribution": {
            "Id": dist_id,
            "ARN": f"arn:aws:cloudfront::1:streaming-distribution/{dist_id}",
            "Status": "Deployed",
            "DomainName": f"{dist_id.lower()}.cloudfront.net",
            "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
            "StreamingDistributionConfig": config,
        },
        "ETag": "E1",
    }


def test_caller_reference_already_exists_leads_to_the_existing_one() -> None:
    _, cloudfront = clients()
    settings = Settings()
    config = distributions.streaming_config(settings)
    with Stubber(cloudfront) as stub:
        # Not listed yet (listing lags behind), so mediapub tries to create...
        stub.add_response("list_streaming_distributions", empty_listing(), {})
        stub.add_client_error(
            "create_streaming_distribution",
            "StreamingDistributionAlreadyExists",
            http_status_code=409,
            expected_params={"StreamingDistributionConfig": config},
        )
        # ...and is told it exists: it finds it by listing and CallerReference.
        listing = empty_listing()
        listing["StreamingDistributionList"].update(
            Quantity=2, Items=[summary("EOTHER", "someone else's"), summary("EMINE", "renamed")]
        )
        stub.add_response("list_streaming_distributions", listing, {})
        other = {"StreamingDistributionConfig": {**config, "CallerReference": "x"}, "ETag": "E"}
        stub.add_response("get_streaming_distribution_config", other, {"Id": "EOTHER"})
        stub.add_response(
            "get_streaming_distribution_config",
            {"StreamingDistributionConfig": config, "ETag": "E1"},
            {"Id": "EMINE"},
        )
        stub.add_response("get_streaming_distribution", full("EMINE"), {"Id": "EMINE"})
        # It is converged on the config: read, nothing differs, so no update.
        stub.add_response(
            "get_streaming_distribution_config",
            {"StreamingDistributionConfig": config, "ETag": "E1"},
            {"Id": "EMINE"},
        )
        stub.add_response("get_streaming_distribution", full("EMINE"), {"Id": "EMINE"})
        found = distributions.ensure_streaming(cloudfront, settings)
    assert (found.id, found.created, found.changes) == ("EMINE", False, [])


def test_older_api_returning_the_original_distribution() -> None:
    _, cloudfront = clients()
    settings = Settings()
    with Stubber(cloudfront) as stub:
        stub.add_response("list_streaming_distributions", empty_listing(), {})
        reply = {**full("EORIG"), "Location": "https://cloudfront.amazonaws.com/x"}
        stub.add_response(
            "create_streaming_distribution",
            reply,
            {"StreamingDistributionConfig": distributions.streaming_config(settings)},
        )
        found = distributions.ensure_streaming(cloudfront, settings)
    assert found.id == "EORIG"


def refuse_rtmp(**kwargs: Any) -> AWSResponse | None:
    """A provider that no longer offers RTMP: AccessDenied for CreateStreamingDistribution."""
    request = kwargs["request"]
    if request.method == "POST" and request.url.endswith("/2020-05-31/streaming-distribution"):
        body = (
            b'<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
            b"<Code>AccessDenied</Code><Message>RTMP distributions are no longer supported"
            b"</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 403, {"Content-Type": "text/xml"}, _Raw(body))
    return None


def s3_error(request: Any, code: str, message: str) -> AWSResponse:
    """S3's answer to `request`: 400 with the error document for `code`."""
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse(request.url, 400, {}, _Raw(body))


def copy_samples(tmp_path: Path) -> Path:
    """A copy of sample_media (media only) to publish."""
    media = tmp_path / "in"
    shutil.copytree(SAMPLES, media, ignore=shutil.ignore_patterns("*.md", "*.sh"))
    return media


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_publish_finishes_over_http_when_rtmp_is_refused(make_context: Any, tmp_path: Path) -> None:
    media = copy_samples(tmp_path)
    ctx = make_context()
    ctx.cloudfront.meta.events.register("before-send.cloudfront", refuse_rtmp)
    result = publisher.publish(ctx, [media])
    assert {o.action for o in result.outcomes} == {publisher.UPLOADED}
    assert "AccessDenied: RTMP distributions are no longer supported" in result.rtmp_refusal
    assert result.manifest["streaming_distribution"] is None
    assert result.manifest["rtmp_refusal"] == result.rtmp_refusal
    assert all(item["rtmp_url"] == "" for item in result.manifest["items"])
    assert all(item["http_url"].startswith("http://") for item in result.manifest["items"])
    page = (ctx.settings.site_dir / result.manifest["items"][0]["page"]).read_text()
    assert "rtmp://" not in page and "no longer creates RTMP distributions" in page


def test_one_rejected_upload_is_recorded_and_the_rest_publish(
    make_context: Any, tmp_path: Path
) -> None:
    media = copy_samples(tmp_path)

    def reject_clip(**kwargs: Any) -> AWSResponse | None:
        request = kwargs["request"]
        if request.method == "PUT" and request.url.endswith("/media/clip.mp4"):
            return s3_error(
                request, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
        return None

    ctx = make_context()
    ctx.s3.meta.events.register("before-send.s3.PutObject", reject_clip)
    result = publisher.publish(ctx, [media])
    assert {o.source: o.action for o in result.outcomes} == {
        "clip.mp4": publisher.FAILED_ACTION,
        "audio/tone.mp3": publisher.UPLOADED,
        "videos/bars and tone.flv": publisher.UPLOADED,
    }
    item = ctx.store.get_item("media/clip.mp4")
    assert item is not None and item.state == "failed" and item.attempts == 1
    assert item.error_code == "EntityTooLarge"
    assert "s3://" in item.error and "media/clip.mp4" in item.error
    assert [t[0] for t in ctx.store.transitions("media/clip.mp4")] == ["uploading", "failed"]
    assert len(result.manifest["items"]) == 2
    assert (media / "clip.mp4").exists()


def refuse_acls(**kwargs: Any) -> AWSResponse | None:
    """A bucket with ACLs disabled (the AWS default since April 2023), whose ownership controls
    the provider does not report: every PUT carrying an ACL is refused as AWS refuses it."""
    request = kwargs["request"]
    if request.method == "PUT" and "x-amz-acl" in {k.lower() for k in request.headers}:
        return s3_error(request, "AccessControlListNotSupported", "The bucket does not allow ACLs")
    return None


def test_acl_refusal_switches_to_a_bucket_policy(make_context: Any, tmp_path: Path) -> None:
    import json
    import urllib.request

    media = copy_samples(tmp_path)
    ctx = make_context()
    ctx.s3.meta.events.register("before-send.s3", refuse_acls)
    result = publisher.publish(ctx, [media])
    assert {o.action for o in result.outcomes} == {publisher.UPLOADED}
    streaming, player = ctx.settings.streaming.bucket, ctx.settings.player.bucket
    site = ("player/", "index.html", "pages/", "items/", "embed/", "oembed/", "manifest.json",
            "sitemap.xml")  # fmt: skip
    for bucket, resources in (
        (streaming, [f"arn:aws:s3:::{streaming}/{p}*" for p in ("crossdomain.xml", "media/")]),
        (player, [f"arn:aws:s3:::{player}/{p}*" for p in site]),
    ):
        policy = json.loads(ctx.s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert sorted(s["Resource"] for s in policy["Statement"]) == sorted(resources)
        assert {s["Action"] for s in policy["Statement"]} == {"s3:GetObject"}
    for url in [i["http_url"] for i in result.manifest["items"]] + [
        result.manifest["index_url"], result.manifest["crossdomain_url"]
    ]:  # fmt: skip
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200, url
    # (moto lists buckets anonymously whatever the policy says, so the listing is checked
    # through the policy's statements above: s3:GetObject on mediapub's prefixes only.)


def test_manage_public_access_block_turns_off_exactly_two_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3, _ = clients()
    blocked = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    with Stubber(s3) as stub:
        stub.add_response(
            "get_public_access_block",
            {"PublicAccessBlockConfiguration": blocked},
            {"Bucket": "media-bucket"},
        )
        stub.add_response(
            "put_public_access_block",
            {},
            {
                "Bucket": "media-bucket",
                "PublicAccessBlockConfiguration": {
                    **blocked,
                    "BlockPublicPolicy": False,
                    "RestrictPublicBuckets": False,
                },
            },
        )
        stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
        stub.add_response("put_bucket_policy", {}, {"Bucket": "media-bucket", "Policy": ANY})
        with caplog.at_level("WARNING"):
            storage.ensure_public_policy(s3, "media-bucket", ["media/"], manage_block=True)
    assert "turned off BlockPublicPolicy and RestrictPublicBuckets on bucket media-bucket" in (
        caplog.text
    )


# --- converging and managing distributions: CloudFront's answers in plain words ---------------


def _config_reply(config: dict[str, Any], etag: str) -> dict[str, Any]:
    return {"StreamingDistributionConfig": config, "ETag": etag}


def test_precondition_failed_is_retried_once_with_the_fresh_etag() -> None:
    _, cloudfront = clients()
    current = distributions.streaming_config(Settings())
    wanted = {**current, "Comment": "films"}
    with Stubber(cloudfront) as stub:
        stub.add_response("get_streaming_distribution_config", _config_reply(current, "E1"),
                          {"Id": "EDIST"})  # fmt: skip
        stub.add_client_error(
            "update_streaming_distribution",
            "PreconditionFailed",
            http_status_code=412,
            expected_params={"Id": "EDIST", "IfMatch": "E1", "StreamingDistributionConfig": wanted},
        )
        # Someone else changed the price class meanwhile: that change is kept.
        theirs = {**current, "PriceClass": "PriceClass_100"}
        stub.add_response("get_streaming_distribution_config", _config_reply(theirs, "E2"),
                          {"Id": "EDIST"})  # fmt: skip
        reply = full("EDIST")
        reply["ETag"] = "E3"
        stub.add_response(
            "update_streaming_distribution",
            reply,
            {
                "Id": "EDIST",
                "IfMatch": "E2",
                "StreamingDistributionConfig": {**theirs, "Comment": "films",
                                                "PriceClass": "PriceClass_All"},
            },
        )  # fmt: skip
        info = distributions.converge(cloudfront, distributions.STREAMING, "EDIST", wanted)
        stub.assert_no_pending_responses()
    assert info.etag == "E3"
    assert [str(c) for c in info.changes] == [
        'Comment: "mediapub streaming distribution" -> "films"',
        'PriceClass: "PriceClass_100" -> "PriceClass_All"',
    ]


def test_a_second_precondition_failure_is_explained() -> None:
    _, cloudfront = clients()
    current = distributions.streaming_config(Settings())
    wanted = {**current, "Comment": "films"}
    with Stubber(cloudfront) as stub:
        for etag in ("E1", "E2"):
            stub.add_response("get_streaming_distribution_config", _config_reply(current, etag),
                              {"Id": "EDIST"})  # fmt: skip
            stub.add_client_error(
                "update_streaming_distribution",
                "PreconditionFailed",
                http_status_code=412,
                expected_params={
                    "Id": "EDIST", "IfMatch": etag, "StreamingDistributionConfig": wanted,
                },
            )  # fmt: skip
        with pytest.raises(AWSError) as caught:
            distributions.converge(cloudfront, distributions.STREAMING, "EDIST", wanted)
    assert caught.value.code == "PreconditionFailed"
    assert "changed by someone else twice" in str(caught.value)
    assert "Run the command again" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "status", "explained"),
    [
        ("CNAMEAlreadyExists", 409, "already belongs to another CloudFront distribution"),
        ("TooManyStreamingDistributionCNAMEs", 400, "at most 10 CNAMEs"),
        ("TrustedSignerDoesNotExist", 400, "Create a CloudFront key pair"),
        ("InvalidIfMatchVersion", 400, "changed while mediapub was updating it"),
    ],
)
def test_update_refusals_are_explained(code: str, status: int, explained: str) -> None:
    _, cloudfront = clients()
    current = distributions.streaming_config(Settings())
    wanted = {**current, "Aliases": {"Quantity": 1, "Items": ["media.example.com"]}}
    with Stubber(cloudfront) as stub:
        stub.add_response("get_streaming_distribution_config", _config_reply(current, "E1"),
                          {"Id": "EDIST"})  # fmt: skip
        stub.add_client_error(
            "update_streaming_distribution",
            code,
            service_message="refused",
            http_status_code=status,
            expected_params={"Id": "EDIST", "IfMatch": "E1", "StreamingDistributionConfig": wanted},
        )
        with pytest.raises(AWSError) as caught:
            distributions.converge(cloudfront, distributions.STREAMING, "EDIST", wanted)
    assert caught.value.code == code
    assert str(caught.value).startswith(f"updating streaming distribution EDIST: {code}: refused.")
    assert explained in str(caught.value)


@pytest.mark.parametrize(
    ("code", "explained"),
    [
        ("TooManyStreamingDistributions", "Delete unused ones"),
        ("CNAMEAlreadyExists", "Remove it from streaming.cnames"),
        ("TrustedSignerDoesNotExist", "signing.key_pair_id"),
    ],
)
def test_create_refusals_are_explained_not_taken_for_rtmp_retirement(
    code: str, explained: str
) -> None:
    _, cloudfront = clients()
    settings = Settings()
    with Stubber(cloudfront) as stub:
        stub.add_response("list_streaming_distributions", empty_listing(), {})
        stub.add_client_error(
            "create_streaming_distribution",
            code,
            service_message="refused",
            http_status_code=400,
            expected_params={
                "StreamingDistributionConfig": distributions.streaming_config(settings)
            },
        )
        with pytest.raises(AWSError) as caught:
            distributions.ensure_streaming(cloudfront, settings)
    assert not isinstance(caught.value, distributions.RtmpRefused)
    assert caught.value.code == code and explained in str(caught.value)
