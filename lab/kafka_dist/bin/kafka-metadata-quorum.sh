#!/bin/bash
# Describes the KRaft metadata quorum, as the release's bin/kafka-metadata-quorum.sh does
# (org.apache.kafka.tools.MetadataQuorumCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.MetadataQuorumCommand "$@"
