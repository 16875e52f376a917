"""HTML pages of the gateway: directory listings and the bucket list of a thread.

Every link is absolute (the directory's own URL path, which always ends in ``/``, plus the
escaped name) and carries the request's ``?token=`` so that browsing a private bucket from a
``Links`` URL keeps working.
"""

from __future__ import annotations

import html
import urllib.parse

from bucketfs.hub.buckets.model import Bucket
from bucketfs.hub.buckets.service import Item

_STYLE = "body{font-family:sans-serif}td{padding:0 1em 0 0}"


def _page(title: str, rows: list[str], parent: str = "") -> str:
    back = f'<p><a href="{html.escape(parent)}">..</a></p>' if parent else ""
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{back}"
        f"<table>{''.join(rows)}</table></body></html>\n"
    )


def _suffix(token: str) -> str:
    return f"?token={urllib.parse.quote(token, safe='')}" if token else ""


def directory(item: Item, base: str, token: str, title: str, at_root: bool) -> str:
    """The listing of directory ``item`` served at URL path ``base`` (ending in ``/``)."""
    rows = []
    for child in item.items:
        slash = "/" if child.is_dir else ""
        href = base + urllib.parse.quote(child.name) + slash + _suffix(token)
        size = "" if child.is_dir else str(child.file_size)
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{html.escape(child.name)}{slash}</a></td>'
            f"<td>{size}</td><td><code>{html.escape(child.cid)}</code></td></tr>"
        )
    parent = "" if at_root else base.rstrip("/").rsplit("/", 1)[0] + "/" + _suffix(token)
    return _page(title, rows, parent)


def bucket_list(thread: str, buckets: list[Bucket], token: str) -> str:
    """The buckets of ``thread`` the caller may see, each linked to its root directory."""
    rows = []
    for bucket in sorted(buckets, key=lambda b: (b.name, b.key)):
        href = f"/thread/{thread}/buckets/{bucket.key}/" + _suffix(token)
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{html.escape(bucket.name or bucket.key)}'
            f"</a></td><td><code>{html.escape(bucket.key)}</code></td></tr>"
        )
    return _page(f"Index of /thread/{thread}/buckets", rows)
