#!/usr/bin/env python3
"""What OpenTAXII stored, read from its sqlite data.db, for tests/interop.rs (no sqlite crate there).

Usage: opentaxii_db.py inbox DB MESSAGE_ID [FILE...]
         the inbox_messages row(s) of MESSAGE_ID: destination collections, the collections its
         content blocks were stored into, and from the stored `original_message` bytes the
         Destination_Collection_Name values, the urn:taxii-gateway:partner extended header
         values and the SHA-256 of every Content_Block element; the same digests for each FILE
         (a captured message)
       opentaxii_db.py subscription DB SUBSCRIPTION_ID
         the subscription's status and the name of the collection it points at
Prints one JSON object. Digests are lowercase hex SHA-256 of each element's bytes as stored, from
its start tag (any namespace prefix) to its end tag; `squeezed` are the digests of the same
elements with the white space between two tags removed.

OpenTAXII 0.9.3 stores `inbox_message.to_xml()` as the original message (libtaxii's
re-serialisation of what it parsed, not the bytes it received: see its own "FIXME: how to get raw
value?" in opentaxii/taxii/converters.py): compact, so a pretty-printed push's envelope white
space is gone while its content is kept.
"""
import hashlib
import json
import re
import sqlite3
import sys

START = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?Content_Block(?=[\s/>])")
BETWEEN_TAGS = re.compile(rb">\s+<")


def blocks(data):
    """Every Content_Block element of `data` (bytes), in document order, not nested."""
    out, at = [], 0
    while True:
        m = START.search(data, at)
        if not m:
            return out
        prefix = m.group(1)
        gt = data.find(b">", m.end())
        if gt > 0 and data[gt - 1:gt] == b"/":  # an empty element
            out.append(data[m.start():gt + 1])
            at = gt + 1
            continue
        end_tag = b"</" + (prefix + b":" if prefix else b"") + b"Content_Block>"
        end = data.find(end_tag, m.end())
        if end < 0:
            raise SystemExit("unterminated Content_Block at byte %d" % m.start())
        end += len(end_tag)
        out.append(data[m.start():end])
        at = end


def digests(data):
    bs = blocks(data)
    return {
        "digests": [hashlib.sha256(b).hexdigest() for b in bs],
        "squeezed": [hashlib.sha256(BETWEEN_TAGS.sub(b"><", b)).hexdigest() for b in bs],
    }


def texts(data, pattern):
    return [m.group(1).decode("utf-8", "replace") for m in re.finditer(pattern, data, re.S)]


def inbox(db, message_id, files):
    rows = db.execute(
        "select id, original_message, destination_collections from inbox_messages "
        "where message_id = ? order by id", (message_id,)).fetchall()
    out = {"rows": len(rows)}
    if rows:
        row_id, original, dests = rows[-1]
        original = bytes(original)
        out["destination_collections"] = json.loads(dests) if dests else []
        out["stored_collections"] = sorted({r[0] for r in db.execute(
            "select c.name from content_blocks b "
            "join collection_to_content_block l on l.content_block_id = b.id "
            "join data_collections c on c.id = l.collection_id "
            "where b.inbox_message_id = ?", (row_id,))})
        out["destination_names"] = texts(
            original, rb"<(?:[\w.-]+:)?Destination_Collection_Name\s*>(.*?)</")
        out["partner_headers"] = texts(
            original,
            rb"<(?:[\w.-]+:)?Extended_Header\s+name=\"urn:taxii-gateway:partner\"\s*>(.*?)</")
        out.update(digests(original))
    out["files"] = {}
    for f in files:
        with open(f, "rb") as fh:
            out["files"][f] = digests(fh.read())
    return out


def subscription(db, sid):
    row = db.execute(
        "select s.status, c.name from subscriptions s "
        "left join data_collections c on c.id = s.collection_id where s.id = ?", (sid,)).fetchone()
    return {"found": row is not None, "status": row and row[0], "collection": row and row[1]}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("inbox", "subscription"):
        sys.exit(__doc__)
    db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True, timeout=10)
    if sys.argv[1] == "inbox":
        out = inbox(db, sys.argv[3], sys.argv[4:])
    else:
        out = subscription(db, sys.argv[3])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
