#!/usr/bin/env python3
"""TAXII 1.0 / 1.1 requests as one partner of the gateway, for what the client CLIs cannot send.

Neither cabby's nor libtaxii's scripts send a static bearer token (cabby's --jwt-auth first fetches
one from an authentication URL), and neither subscribes with push / delivery parameters. This
builds the message with libtaxii and posts it with requests (both from the interop venv), with the
TAXII HTTP binding headers.

Usage: partner_client.py --taxii 1.0|1.1 -u URL ACTION [--collection NAME] [--address URL]
           [--content-file FILE] [--basic USER:PASS] [--bearer TOKEN] [--cert FILE --key FILE]
           [--ca FILE]
  ACTION: discovery, info (feed/collection information), poll, subscribe (push to --address),
          push (1.1: one STIX 1.1.1 content block of --content-file to destination --collection)
Prints the HTTP status line and the response body; exit 0 when a response was read. A push is
sent compact (libtaxii's to_xml() without pretty printing, which is the form OpenTAXII stores
as the original message) and its message id is printed to stderr ("sent message_id: ID").
"""
import argparse
import sys

import libtaxii.messages_10 as tm10
import libtaxii.messages_11 as tm11
import requests
import datetime

from libtaxii.common import generate_message_id
from libtaxii.constants import (ACT_SUBSCRIBE, RT_FULL, VID_TAXII_HTTP_10, VID_TAXII_HTTPS_10,
                                VID_TAXII_SERVICES_10, VID_TAXII_SERVICES_11, VID_TAXII_XML_10,
                                VID_TAXII_XML_11)


def message(args):
    mid = generate_message_id()
    proto = VID_TAXII_HTTPS_10 if (args.address or "").startswith("https") else VID_TAXII_HTTP_10
    if args.action == "discovery":
        return (tm10 if args.taxii == "1.0" else tm11).DiscoveryRequest(mid)
    if args.taxii == "1.0":
        if args.action == "info":
            return tm10.FeedInformationRequest(mid)
        if args.action == "poll":
            return tm10.PollRequest(mid, feed_name=args.collection)
        return tm10.ManageFeedSubscriptionRequest(
            mid, feed_name=args.collection, action=ACT_SUBSCRIBE,
            delivery_parameters=tm10.DeliveryParameters(
                inbox_protocol=proto, inbox_address=args.address,
                delivery_message_binding=VID_TAXII_XML_10))
    if args.action == "info":
        return tm11.CollectionInformationRequest(mid)
    if args.action == "push":
        with open(args.content_file, encoding="utf-8") as f:
            content = f.read()
        return tm11.InboxMessage(
            mid, destination_collection_names=[args.collection] if args.collection else None,
            content_blocks=[tm11.ContentBlock(
                tm11.ContentBinding("urn:stix.mitre.org:xml:1.1.1"), content,
                timestamp_label=datetime.datetime.now(datetime.timezone.utc))])
    if args.action == "poll":
        return tm11.PollRequest(mid, collection_name=args.collection,
                                poll_parameters=tm11.PollParameters())
    return tm11.ManageCollectionSubscriptionRequest(
        mid, collection_name=args.collection, action=ACT_SUBSCRIBE,
        subscription_parameters=tm11.SubscriptionParameters(response_type=RT_FULL),
        push_parameters=tm11.PushParameters(proto, args.address, VID_TAXII_XML_11))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--taxii", choices=["1.0", "1.1"], required=True)
    p.add_argument("-u", dest="url", required=True)
    p.add_argument("action", choices=["discovery", "info", "poll", "subscribe", "push"])
    p.add_argument("--collection")
    p.add_argument("--address")
    p.add_argument("--content-file")
    p.add_argument("--basic")
    p.add_argument("--bearer")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    args = p.parse_args()
    xml = VID_TAXII_XML_10 if args.taxii == "1.0" else VID_TAXII_XML_11
    services = VID_TAXII_SERVICES_10 if args.taxii == "1.0" else VID_TAXII_SERVICES_11
    https = args.url.startswith("https")
    headers = {
        "Content-Type": "application/xml",
        "Accept": "application/xml",
        "X-TAXII-Content-Type": xml,
        "X-TAXII-Accept": xml,
        "X-TAXII-Services": services,
        "X-TAXII-Protocol": VID_TAXII_HTTPS_10 if https else VID_TAXII_HTTP_10,
    }
    if args.bearer:
        headers["Authorization"] = "Bearer " + args.bearer
    auth = tuple(args.basic.split(":", 1)) if args.basic else None
    cert = (args.cert, args.key) if args.cert else None
    if args.action == "push" and (args.taxii != "1.1" or not args.content_file):
        p.error("push: TAXII 1.1 and --content-file only")
    msg = message(args)
    if args.action == "push":
        body = msg.to_xml()
        print("sent message_id: %s" % msg.message_id, file=sys.stderr)
    else:
        body = msg.to_xml(pretty_print=True)
    r = requests.post(args.url, data=body, headers=headers, auth=auth, cert=cert,
                      verify=args.ca or True, timeout=30,
                      proxies={"http": None, "https": None})
    print("HTTP %d %s" % (r.status_code, r.reason))
    print(r.text)


if __name__ == "__main__":
    sys.exit(main())
