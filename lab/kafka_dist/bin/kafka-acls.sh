#!/bin/bash
# Adds, removes and lists ACLs, as the release's bin/kafka-acls.sh does
# (org.apache.kafka.tools.AclCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.AclCommand "$@"
