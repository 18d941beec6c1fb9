#!/bin/bash
# Writes lines from standard input to a topic, as the release's bin/kafka-console-producer.sh
# does (org.apache.kafka.tools.ConsoleProducer).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConsoleProducer "$@"
