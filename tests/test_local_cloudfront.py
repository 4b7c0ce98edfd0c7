"""CloudFront streaming distributions and the edge hook, through boto3 against a moto server."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from pipeline.local import cloudfront as local_cloudfront
from pipeline.local.cloudfront import EdgeOrigin

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudfront.type_defs import (
        DistributionConfigTypeDef,
        StreamingDistributionConfigTypeDef,
    )
else:
    CloudFrontClient = Any
    DistributionConfigTypeDef = dict
    StreamingDistributionConfigTypeDef = dict

REGION = "us-east-1"


@dataclass
class FakeRegistry:
    """Records edge calls; gives every distribution id its own stable port."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def assign(
        self,
        kind: Literal["rtmp", "web"],
        dist_id: str,
        origins: Sequence[EdgeOrigin],
        default_root_object: str,
    ) -> str:
        self.calls.append(("assign", kind, dist_id, list(origins), default_root_object))
        port = self.ports.setdefault(dist_id, 20000 + len(self.ports))
        return f"127.0.0.1:{port}"

    def release(self, dist_id: str) -> None:
        self.calls.append(("release", dist_id))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    local_cloudfront.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        local_cloudfront.install(None, deploy_seconds=0.0)
        local_cloudfront.reset()


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    local_cloudfront.install(None, deploy_seconds=0.0)
    local_cloudfront.reset()
    yield
    local_cloudfront.install(None, deploy_seconds=0.0)
    local_cloudfront.reset()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


@pytest.fixture
def client(endpoint: str) -> CloudFrontClient:
    """A client of a server with no distributions (moto's web ones included)."""
    reset_moto(endpoint)
    cf: CloudFrontClient = boto3.client(
        "cloudfront",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )
    return cf


@pytest.fixture
def registry() -> FakeRegistry:
    fake = FakeRegistry()
    local_cloudfront.install(fake)
    return fake


def streaming_config(
    reference: str = "ref-1",
    *,
    domain_name: str = "media.s3.amazonaws.com",
    comment: str = "lectures",
    enabled: bool = True,
    aliases: Sequence[str] = (),
) -> StreamingDistributionConfigTypeDef:
    return {
        "CallerReference": reference,
        "S3Origin": {"DomainName": domain_name, "OriginAccessIdentity": ""},
        "Aliases": {"Quantity": len(aliases), "Items": list(aliases)},
        "Comment": comment,
        "Logging": {"Enabled": True, "Bucket": "logs.s3.amazonaws.com", "Prefix": "rtmp/"},
        "TrustedSigners": {"Enabled": True, "Quantity": 1, "Items": ["self"]},
        "PriceClass": "PriceClass_100",
        "Enabled": enabled,
    }


def web_config(reference: str = "web-1", comment: str = "site") -> DistributionConfigTypeDef:
    return {
        "CallerReference": reference,
        "Comment": comment,
        "Enabled": True,
        "DefaultRootObject": "index.html",
        "Origins": {
            "Quantity": 2,
            "Items": [
                {
                    "Id": "player",
                    "DomainName": "player.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                },
                {
                    "Id": "media",
                    "DomainName": "media.s3.eu-west-1.amazonaws.com",
                    "OriginPath": "/v1",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                },
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "player",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
        },
        "CacheBehaviors": {
            "Quantity": 1,
            "Items": [
                {
                    "PathPattern": "media/*",
                    "TargetOriginId": "media",
                    "ViewerProtocolPolicy": "allow-all",
                    "MinTTL": 0,
                }
            ],
        },
    }


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# --------------------------------------------------------------------------------------------
# Streaming distribution API
# --------------------------------------------------------------------------------------------


def test_create_returns_id_etag_domain_status_and_location(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    dist = created["StreamingDistribution"]
    assert dist["Id"].startswith("E")
    assert created["ETag"]
    assert created["Location"].endswith(f"/2020-05-31/streaming-distribution/{dist['Id']}")
    assert dist["DomainName"].endswith(".cloudfront.net")
    assert dist["Status"] == "Deployed"
    assert dist["ARN"] == f"arn:aws:cloudfront::123456789012:streaming-distribution/{dist['Id']}"
    assert dist["ActiveTrustedSigners"]["Enabled"] is True
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_get_and_get_config_round_trip(client: CloudFrontClient) -> None:
    config = streaming_config(aliases=["rtmp.example.com", "live.example.com"])
    created = client.create_streaming_distribution(StreamingDistributionConfig=config)
    dist_id = created["StreamingDistribution"]["Id"]

    got = client.get_streaming_distribution(Id=dist_id)
    got_config = client.get_streaming_distribution_config(Id=dist_id)

    assert got["ETag"] == created["ETag"] == got_config["ETag"]
    for returned in (
        got["StreamingDistribution"]["StreamingDistributionConfig"],
        got_config["StreamingDistributionConfig"],
    ):
        assert returned["Comment"] == "lectures"
        assert returned["Aliases"] == {
            "Quantity": 2,
            "Items": ["rtmp.example.com", "live.example.com"],
        }
        assert returned["Logging"] == {
            "Enabled": True,
            "Bucket": "logs.s3.amazonaws.com",
            "Prefix": "rtmp/",
        }
        assert returned["PriceClass"] == "PriceClass_100"
        assert returned["TrustedSigners"] == {"Enabled": True, "Quantity": 1, "Items": ["self"]}
        assert returned["Enabled"] is True
        assert returned["S3Origin"] == {
            "DomainName": "media.s3.amazonaws.com",
            "OriginAccessIdentity": "",
        }
        assert returned["CallerReference"] == "ref-1"


def test_minimal_config_gets_defaults(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(
        StreamingDistributionConfig={
            "CallerReference": "minimal",
            "S3Origin": {
                "DomainName": "media.s3-us-west-2.amazonaws.com",
                "OriginAccessIdentity": "",
            },
            "Comment": "",
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
            "Enabled": True,
        }
    )
    config = created["StreamingDistribution"]["StreamingDistributionConfig"]
    assert config["Aliases"] == {"Quantity": 0}
    assert config["Logging"] == {"Enabled": False, "Bucket": "", "Prefix": ""}
    assert config["PriceClass"] == "PriceClass_All"


def test_list_shows_distributions_and_paginates(client: CloudFrontClient) -> None:
    empty = client.list_streaming_distributions()["StreamingDistributionList"]
    assert empty["Quantity"] == 0
    assert "Items" not in empty

    ids = [
        client.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config(f"ref-{n}", comment=f"c{n}")
        )["StreamingDistribution"]["Id"]
        for n in range(3)
    ]

    listing = client.list_streaming_distributions()["StreamingDistributionList"]
    assert listing["Quantity"] == 3
    assert listing["IsTruncated"] is False
    summaries = listing["Items"]
    assert [item["Id"] for item in summaries] == ids
    assert summaries[0]["Comment"] == "c0"
    assert summaries[0]["S3Origin"]["DomainName"] == "media.s3.amazonaws.com"
    assert summaries[0]["Status"] == "Deployed"

    first_page = client.list_streaming_distributions(MaxItems="2")["StreamingDistributionList"]
    assert first_page["IsTruncated"] is True
    assert first_page["NextMarker"] == ids[1]

    paginator = client.get_paginator("list_streaming_distributions")
    paged = [
        item["Id"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 2})
        for item in page["StreamingDistributionList"].get("Items", [])
    ]
    assert paged == ids


def test_reused_caller_reference_is_rejected(client: CloudFrontClient) -> None:
    client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    with pytest.raises(ClientError) as excinfo:
        client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    assert error_code(excinfo) == "StreamingDistributionAlreadyExists"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_update_with_current_etag(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())
    dist_id = created["StreamingDistribution"]["Id"]

    updated = client.update_streaming_distribution(
        Id=dist_id,
        IfMatch=created["ETag"],
        StreamingDistributionConfig=streaming_config(comment="renamed"),
    )

    assert updated["ETag"] != created["ETag"]
    assert updated["StreamingDistribution"]["StreamingDistributionConfig"]["Comment"] == "renamed"
    got = client.get_streaming_distribution_config(Id=dist_id)
    assert got["StreamingDistributionConfig"]["Comment"] == "renamed"
    assert got["ETag"] == updated["ETag"]


def test_update_with_stale_or_missing_etag(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())
    dist_id = created["StreamingDistribution"]["Id"]
    client.update_streaming_distribution(
        Id=dist_id, IfMatch=created["ETag"], StreamingDistributionConfig=streaming_config()
    )

    with pytest.raises(ClientError) as stale:
        client.update_streaming_distribution(
            Id=dist_id,
            IfMatch=created["ETag"],
            StreamingDistributionConfig=streaming_config(comment="lost update"),
        )
    assert error_code(stale) == "PreconditionFailed"
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412

    with pytest.raises(ClientError) as missing:
        client.update_streaming_distribution(
            Id=dist_id, StreamingDistributionConfig=streaming_config()
        )
    assert error_code(missing) == "InvalidIfMatchVersion"

    config = client.get_streaming_distribution_config(Id=dist_id)["StreamingDistributionConfig"]
    assert config["Comment"] == "lectures"


def test_update_cannot_change_caller_reference(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    with pytest.raises(ClientError) as excinfo:
        client.update_streaming_distribution(
            Id=created["StreamingDistribution"]["Id"],
            IfMatch=created["ETag"],
            StreamingDistributionConfig=streaming_config("other-ref"),
        )

    assert error_code(excinfo) == "IllegalUpdate"


def test_delete_requires_disabled_distribution(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())
    dist_id = created["StreamingDistribution"]["Id"]

    with pytest.raises(ClientError) as enabled:
        client.delete_streaming_distribution(Id=dist_id, IfMatch=created["ETag"])
    assert error_code(enabled) == "StreamingDistributionNotDisabled"

    disabled = client.update_streaming_distribution(
        Id=dist_id,
        IfMatch=created["ETag"],
        StreamingDistributionConfig=streaming_config(enabled=False),
    )
    with pytest.raises(ClientError) as stale:
        client.delete_streaming_distribution(Id=dist_id, IfMatch=created["ETag"])
    assert error_code(stale) == "PreconditionFailed"

    deleted = client.delete_streaming_distribution(Id=dist_id, IfMatch=disabled["ETag"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204

    with pytest.raises(ClientError) as gone:
        client.get_streaming_distribution(Id=dist_id)
    assert error_code(gone) == "NoSuchStreamingDistribution"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    listing = client.list_streaming_distributions()["StreamingDistributionList"]
    assert listing["Quantity"] == 0


def test_unknown_id_is_no_such_streaming_distribution(client: CloudFrontClient) -> None:
    calls: list[Callable[[], object]] = [
        lambda: client.get_streaming_distribution(Id="ENOTTHERE12345"),
        lambda: client.get_streaming_distribution_config(Id="ENOTTHERE12345"),
        lambda: client.delete_streaming_distribution(Id="ENOTTHERE12345", IfMatch="E1"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "NoSuchStreamingDistribution"


def test_create_with_tags(client: CloudFrontClient) -> None:
    created = client.create_streaming_distribution_with_tags(
        StreamingDistributionConfigWithTags={
            "StreamingDistributionConfig": streaming_config(),
            "Tags": {"Items": [{"Key": "project", "Value": "mediapub"}]},
        }
    )

    dist = created["StreamingDistribution"]
    assert created["Location"].endswith(dist["Id"])
    assert dist["StreamingDistributionConfig"]["Comment"] == "lectures"
    tags = client.list_tags_for_resource(Resource=dist["ARN"])["Tags"]
    assert tags["Items"] == [{"Key": "project", "Value": "mediapub"}]

    client.tag_resource(Resource=dist["ARN"], Tags={"Items": [{"Key": "env", "Value": "local"}]})
    keys = {
        tag["Key"] for tag in client.list_tags_for_resource(Resource=dist["ARN"])["Tags"]["Items"]
    }
    assert keys == {"project", "env"}


def test_more_than_ten_cnames_are_rejected(client: CloudFrontClient) -> None:
    aliases = [f"cdn{n}.example.com" for n in range(11)]

    with pytest.raises(ClientError) as excinfo:
        client.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config(aliases=aliases)
        )

    assert error_code(excinfo) == "TooManyStreamingDistributionCNAMEs"
    ten = client.create_streaming_distribution(
        StreamingDistributionConfig=streaming_config(aliases=aliases[:10])
    )
    assert ten["StreamingDistribution"]["StreamingDistributionConfig"]["Aliases"]["Quantity"] == 10


def test_cname_used_by_another_distribution_is_rejected(client: CloudFrontClient) -> None:
    client.create_streaming_distribution(
        StreamingDistributionConfig=streaming_config("a", aliases=["rtmp.example.com"])
    )
    with pytest.raises(ClientError) as excinfo:
        client.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config("b", aliases=["rtmp.example.com"])
        )
    assert error_code(excinfo) == "CNAMEAlreadyExists"


@pytest.mark.parametrize(
    "domain_name",
    [
        "s3.amazonaws.com/media",
        "s3.amazonaws.com",
        "media.s3-website-us-east-1.amazonaws.com",
        "media.example.com",
    ],
)
def test_non_virtual_host_s3_origin_is_invalid(client: CloudFrontClient, domain_name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config(domain_name=domain_name)
        )

    assert error_code(excinfo) == "InvalidArgument"
    assert domain_name in excinfo.value.response["Error"]["Message"]


def test_inconsistent_quantity_is_rejected(client: CloudFrontClient) -> None:
    config = streaming_config()
    config["Aliases"] = {"Quantity": 2, "Items": ["one.example.com"]}

    with pytest.raises(ClientError) as excinfo:
        client.create_streaming_distribution(StreamingDistributionConfig=config)

    assert error_code(excinfo) == "InconsistentQuantities"


def test_waiter_sees_in_progress_then_deployed(client: CloudFrontClient) -> None:
    local_cloudfront.configure(deploy_seconds=0.5)
    created = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())
    dist_id = created["StreamingDistribution"]["Id"]
    assert created["StreamingDistribution"]["Status"] == "InProgress"
    assert client.get_streaming_distribution(Id=dist_id)["StreamingDistribution"]["Status"] == (
        "InProgress"
    )

    started = time.monotonic()
    client.get_waiter("streaming_distribution_deployed").wait(
        Id=dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    assert time.monotonic() - started < 4
    assert client.get_streaming_distribution(Id=dist_id)["StreamingDistribution"]["Status"] == (
        "Deployed"
    )

    updated = client.update_streaming_distribution(
        Id=dist_id,
        IfMatch=created["ETag"],
        StreamingDistributionConfig=streaming_config(comment="redeploy"),
    )
    assert updated["StreamingDistribution"]["Status"] == "InProgress"
    client.get_waiter("streaming_distribution_deployed").wait(
        Id=dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )


def test_moto_reset_drops_streaming_distributions(client: CloudFrontClient, endpoint: str) -> None:
    client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    reset_moto(endpoint)

    listing = client.list_streaming_distributions()["StreamingDistributionList"]
    assert listing["Quantity"] == 0
    client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())


def test_streaming_api_under_mock_aws() -> None:
    with mock_aws():
        cf: CloudFrontClient = boto3.client(
            "cloudfront",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        created = cf.create_streaming_distribution(StreamingDistributionConfig=streaming_config())
        dist_id = created["StreamingDistribution"]["Id"]
        assert cf.get_streaming_distribution(Id=dist_id)["ETag"] == created["ETag"]
        listing = cf.list_streaming_distributions()["StreamingDistributionList"]
        assert [item["Id"] for item in listing.get("Items", [])] == [dist_id]


# --------------------------------------------------------------------------------------------
# The edge hook
# --------------------------------------------------------------------------------------------


def test_registry_gives_streaming_distribution_its_domain(
    client: CloudFrontClient, registry: FakeRegistry
) -> None:
    created = client.create_streaming_distribution(
        StreamingDistributionConfig=streaming_config(
            domain_name="lectures.s3.eu-west-1.amazonaws.com"
        )
    )
    dist = created["StreamingDistribution"]

    assert registry.calls == [
        ("assign", "rtmp", dist["Id"], [EdgeOrigin("*", "lectures", "", signed=True)], ""),
    ]
    assert dist["DomainName"] == "127.0.0.1:20000"
    assert client.get_streaming_distribution(Id=dist["Id"])["StreamingDistribution"][
        "DomainName"
    ] == ("127.0.0.1:20000")

    disabled = client.update_streaming_distribution(
        Id=dist["Id"],
        IfMatch=created["ETag"],
        StreamingDistributionConfig=streaming_config(
            domain_name="lectures.s3.eu-west-1.amazonaws.com", enabled=False
        ),
    )
    assert disabled["StreamingDistribution"]["DomainName"] == "127.0.0.1:20000"
    client.delete_streaming_distribution(Id=dist["Id"], IfMatch=disabled["ETag"])
    assert registry.calls[-1] == ("release", dist["Id"])


def test_rejected_streaming_create_does_not_call_registry(
    client: CloudFrontClient, registry: FakeRegistry
) -> None:
    with pytest.raises(ClientError):
        client.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config(domain_name="s3.amazonaws.com/media")
        )
    assert registry.calls == []


def test_registry_gives_web_distribution_its_domain(
    client: CloudFrontClient, registry: FakeRegistry
) -> None:
    created = client.create_distribution(DistributionConfig=web_config())
    dist = created["Distribution"]
    expected_origins = [EdgeOrigin("*", "player", ""), EdgeOrigin("media/*", "media", "/v1")]

    assign_call = ("assign", "web", dist["Id"], expected_origins, "index.html")
    assert registry.calls == [assign_call]
    assert dist["DomainName"] == "127.0.0.1:20000"
    got = client.get_distribution(Id=dist["Id"])
    assert got["Distribution"]["DomainName"] == "127.0.0.1:20000"

    disabled = {**web_config(comment="v2"), "Enabled": False}
    updated = client.update_distribution(
        Id=dist["Id"], IfMatch=created["ETag"], DistributionConfig=disabled
    )
    assert registry.calls == [assign_call, assign_call]
    assert updated["Distribution"]["DomainName"] == "127.0.0.1:20000"
    assert updated["Distribution"]["DistributionConfig"]["Comment"] == "v2"
    assert updated["ETag"] != created["ETag"]

    client.delete_distribution(Id=dist["Id"], IfMatch=updated["ETag"])
    assert registry.calls == [assign_call, assign_call, ("release", dist["Id"])]


def test_web_distribution_with_tags_calls_registry(
    client: CloudFrontClient, registry: FakeRegistry
) -> None:
    created = client.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": web_config("tagged"),
            "Tags": {"Items": [{"Key": "project", "Value": "mediapub"}]},
        }
    )
    assert registry.calls[0][:3] == ("assign", "web", created["Distribution"]["Id"])
    assert created["Distribution"]["DomainName"] == "127.0.0.1:20000"


def test_web_origin_the_edge_cannot_serve_is_rejected(
    client: CloudFrontClient, registry: FakeRegistry
) -> None:
    config = web_config()
    config["Origins"] = {
        "Quantity": 1,
        "Items": [
            {
                "Id": "player",
                "DomainName": "player.example.com",
                "CustomOriginConfig": {
                    "HTTPPort": 80,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "http-only",
                },
            }
        ],
    }
    del config["CacheBehaviors"]

    with pytest.raises(ClientError) as excinfo:
        client.create_distribution(DistributionConfig=config)

    assert error_code(excinfo) == "InvalidArgument"
    assert "player.example.com" in excinfo.value.response["Error"]["Message"]
    assert registry.calls == []
    assert client.list_distributions()["DistributionList"]["Quantity"] == 0


def test_without_registry_domains_are_cloudfront_defaults(client: CloudFrontClient) -> None:
    web = client.create_distribution(DistributionConfig=web_config())
    streaming = client.create_streaming_distribution(StreamingDistributionConfig=streaming_config())

    assert web["Distribution"]["DomainName"].endswith(".cloudfront.net")
    assert streaming["StreamingDistribution"]["DomainName"].endswith(".cloudfront.net")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain_name", "bucket"),
    [
        ("media.s3.amazonaws.com", "media"),
        ("media.s3.eu-west-1.amazonaws.com", "media"),
        ("media.s3-us-west-2.amazonaws.com", "media"),
        ("my.dotted.bucket.s3.amazonaws.com", "my.dotted.bucket"),
        ("media.s3.cn-north-1.amazonaws.com.cn", "media"),
        ("s3.amazonaws.com/media", None),
        ("s3.us-east-1.amazonaws.com", None),
        ("media.s3-website-us-east-1.amazonaws.com", None),
        ("media.s3.amazonaws.com.evil.example", None),
        ("", None),
    ],
)
def test_s3_bucket_from_domain_name(domain_name: str, bucket: str | None) -> None:
    assert local_cloudfront.s3_bucket_from_domain_name(domain_name) == bucket


def test_install_is_idempotent() -> None:
    from moto.cloudfront import urls

    local_cloudfront.install()
    before = dict(urls.url_paths)
    local_cloudfront.install()

    assert urls.url_paths == before
    for pattern in local_cloudfront.STREAMING_URL_PATHS:
        assert pattern in urls.url_paths
    assert {handler.__self__ for handler in urls.url_paths.values()} == {
        local_cloudfront.LocalCloudFrontResponse
    }


def test_configure_rejects_negative_delay() -> None:
    with pytest.raises(ValueError, match="deploy_seconds"):
        local_cloudfront.configure(deploy_seconds=-1)
