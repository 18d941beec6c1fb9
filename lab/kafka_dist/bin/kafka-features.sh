#!/bin/bash
# Describes, upgrades and maps the cluster's finalized feature levels (metadata.version ...),
# as the release's bin/kafka-features.sh does (org.apache.kafka.tools.FeatureCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.FeatureCommand "$@"
