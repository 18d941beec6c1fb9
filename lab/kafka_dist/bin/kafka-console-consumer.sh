#!/bin/bash
# Prints a topic's records, as the release's bin/kafka-console-consumer.sh does
# (org.apache.kafka.tools.consumer.ConsoleConsumer).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
