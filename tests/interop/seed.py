#!/usr/bin/env python3
"""Seed a fresh interop OpenTAXII through its own inbox services, then check the counts.

Usage: seed.py HOST PORT        (run with the venv's python; start.sh does it)

Result: feed-a 1 block, feed-b 1 block, feed-c 12 blocks (more than the poll service's
max_result_size of 10, so that a TAXII 1.1 poll of feed-c is multi-part). Exit 1 on any failure.
"""
import os
import sys

from cabby import create_client

STIX111 = "urn:stix.mitre.org:xml:1.1.1"
CONTENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "content")


def content(name):
    with open(os.path.join(CONTENT, name), encoding="utf-8") as f:
        return f.read()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    host, port = sys.argv[1], int(sys.argv[2])
    v11 = create_client(host, port=port, version="1.1")
    v10 = create_client(host, port=port, version="1.0")
    # 1.1 with two destination collections: one block each in feed-a and feed-b
    v11.push(content("seed-domain.xml"), STIX111,
             collection_names=["feed-a", "feed-b"], uri="/services/inbox")
    # 1.0 (no destination): every collection of inbox-all, i.e. feed-c
    v10.push(content("seed-file-hash.xml"), STIX111, uri="/services/inbox-all")
    # 11 distinct URL indicators into feed-c, 1.1 without destination
    template = content("seed-url.xml")
    for n in range(11):
        v11.push(template.replace("@N@", "%02d" % n), STIX111, uri="/services/inbox-all")
    want = {"feed-a": 1, "feed-b": 1, "feed-c": 12}
    for name, n in want.items():
        got = v11.get_content_count(collection_name=name, uri="/services/poll").count
        if got != n:
            sys.exit("seed.py: %s has %s blocks, expected %d (was the server fresh?)" % (name, got, n))
    print("seeded: " + " ".join("%s=%d" % kv for kv in want.items()))


if __name__ == "__main__":
    main()
