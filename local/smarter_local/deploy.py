"""`make deploy`'s last step: upload the built page to the stack's PageBucket
with a config.json written from the stack outputs, then invalidate CloudFront.

    python -m smarter_local.deploy [--stack smarter-serverless]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import time
from pathlib import Path
from typing import Any

from .cfn import ROOT

DIST = ROOT / "frontend" / "dist"
PREFIX = "passthrough/"
# Hashed assets never change; the entry points and config must be re-read.
NO_CACHE = {"index.html", "config.json"}


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def page_config(outputs: dict[str, str]) -> dict[str, Any]:
    return {"apiBaseUrl": outputs["PlatformApiUrl"].rstrip("/")}


def upload_page(s3, bucket: str, config: dict[str, Any], dist: Path = DIST) -> list[str]:
    if not (dist / "index.html").is_file():
        raise SystemExit(f"{dist} has no index.html: build the page first (make page)")
    uploaded = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file() and p.name != "config.json"):
        key = PREFIX + path.relative_to(dist).as_posix()
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            CacheControl="no-cache" if path.name in NO_CACHE else "public, max-age=31536000, immutable",
        )
        uploaded.append(key)
    s3.put_object(
        Bucket=bucket,
        Key=PREFIX + "config.json",
        Body=json.dumps(config, indent=2).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    uploaded.append(PREFIX + "config.json")
    return uploaded


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="smarter-serverless")
    args = parser.parse_args(argv)
    outputs = stack_outputs(boto3.client("cloudformation"), args.stack)
    config = page_config(outputs)
    keys = upload_page(boto3.client("s3"), outputs["PageBucketName"], config)
    boto3.client("cloudfront").create_invalidation(
        DistributionId=outputs["PageDistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/passthrough/*"]}, "CallerReference": str(time.time())},
    )
    print(f"uploaded {len(keys)} files; config.json: {json.dumps(config)}")
    print(f"Passthrough page: {outputs['PageUrl']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
