#!/usr/bin/env python3
"""TAXII 1.0 / 1.1 subscription management with libtaxii's own client-script machinery.

libtaxii 1.1.119 ships no subscription client script (only a stub class), so this is one built the
way its scripts are (libtaxii.scripts.TaxiiScript: same options, HTTP client and output).

Usage: libtaxii_subscription.py --taxii 1.0|1.1 -u URL --action subscribe|status|unsubscribe
           --collection NAME [--subscription-id ID] [--xml-output] [--verify-server CA]
Exit 0 when a response was read (whatever its status), 1 otherwise (traceback on stderr).
"""
import sys

import libtaxii.messages_10 as tm10
import libtaxii.messages_11 as tm11
from libtaxii.common import generate_message_id
from libtaxii.constants import (ACT_STATUS, ACT_SUBSCRIBE, ACT_UNSUBSCRIBE, RT_FULL,
                                VID_TAXII_XML_10, VID_TAXII_XML_11)
from libtaxii.scripts import TaxiiScript

ACTIONS = {"subscribe": ACT_SUBSCRIBE, "status": ACT_STATUS, "unsubscribe": ACT_UNSUBSCRIBE}


class _Subscription(TaxiiScript):
    path = "/services/collection-management"

    def get_arg_parser(self, *args, **kwargs):
        parser = super().get_arg_parser(*args, **kwargs)
        parser.add_argument("--taxii", dest="taxii", choices=["1.0", "1.1"], required=True)
        parser.add_argument("--action", dest="action", choices=sorted(ACTIONS), required=True)
        parser.add_argument("--collection", dest="collection", required=True,
                            help="collection (1.1) or feed (1.0) name")
        parser.add_argument("--subscription-id", dest="subscription_id", default=None)
        return parser


class Subscription11(_Subscription):
    taxii_version = VID_TAXII_XML_11
    parser_description = "TAXII 1.1 Subscription Management Request client"

    def create_request_message(self, args):
        params = None
        if args.action == "subscribe":
            params = tm11.SubscriptionParameters(response_type=RT_FULL)
        return tm11.ManageCollectionSubscriptionRequest(
            message_id=generate_message_id(), collection_name=args.collection,
            action=ACTIONS[args.action], subscription_id=args.subscription_id,
            subscription_parameters=params)


class Subscription10(_Subscription):
    taxii_version = VID_TAXII_XML_10
    parser_description = "TAXII 1.0 Subscription Management Request client"

    def create_request_message(self, args):
        return tm10.ManageFeedSubscriptionRequest(
            message_id=generate_message_id(), feed_name=args.collection,
            action=ACTIONS[args.action], subscription_id=args.subscription_id)


def main():
    version = "1.1"
    for i, a in enumerate(sys.argv):
        if a == "--taxii" and i + 1 < len(sys.argv):
            version = sys.argv[i + 1]
    script = Subscription10() if version == "1.0" else Subscription11()
    script()


if __name__ == "__main__":
    main()
