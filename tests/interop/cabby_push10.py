#!/usr/bin/env python3
"""TAXII 1.0 inbox push with cabby's API.

cabby 0.1.23's `taxii-push -t 1.0` always fails (the CLI passes collection_names=..., which only
Client11.push takes), so the TAXII 1.0 push of the interop test goes through Client10.push.

Usage: cabby_push10.py HOST PORT INBOX_PATH CONTENT_FILE [BINDING]
Prints one line and exits 0 on a SUCCESS status; a failure raises (traceback, exit 1).
"""
import sys

from cabby import create_client


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    host, port, path, content_file = sys.argv[1:5]
    binding = sys.argv[5] if len(sys.argv) == 6 else "urn:stix.mitre.org:xml:1.1.1"
    client = create_client(host, port=int(port), version="1.0")
    with open(content_file, encoding="utf-8") as f:
        client.push(f.read(), binding, uri=path)
    print("TAXII 1.0 content block pushed to %s" % path)


if __name__ == "__main__":
    main()
