#!/bin/bash
# Creates, alters, lists, describes and deletes topics, as the release's bin/kafka-topics.sh
# does (org.apache.kafka.tools.TopicCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
