"""`make deploy` uploads the page with a config.json from the stack outputs."""

from __future__ import annotations

import json

from smarter_local.deploy import page_config, upload_page


def test_config_points_the_page_at_the_platform_api():
    assert page_config({"PlatformApiUrl": "https://api.example.com/"}) == {"apiBaseUrl": "https://api.example.com"}


def test_upload_puts_the_page_under_passthrough_with_cache_rules(aws, tmp_path):
    from smarter.store import aws as smarter_aws

    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<div id=root></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "config.json").write_text('{"apiBaseUrl": ""}')  # the dev one is replaced
    s3 = smarter_aws.client("s3")
    s3.create_bucket(Bucket="page")
    keys = upload_page(s3, "page", {"apiBaseUrl": "https://api.example.com"}, dist=tmp_path)
    assert keys == ["passthrough/assets/app-1234.js", "passthrough/index.html", "passthrough/config.json"]
    config = s3.get_object(Bucket="page", Key="passthrough/config.json")
    assert json.loads(config["Body"].read()) == {"apiBaseUrl": "https://api.example.com"}
    assert config["CacheControl"] == "no-cache"
    asset = s3.get_object(Bucket="page", Key="passthrough/assets/app-1234.js")
    assert asset["ContentType"] == "text/javascript" and "immutable" in asset["CacheControl"]
    assert s3.get_object(Bucket="page", Key="passthrough/index.html")["ContentType"] == "text/html"
