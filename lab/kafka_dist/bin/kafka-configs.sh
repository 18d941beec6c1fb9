#!/bin/bash
# Describes and alters broker, topic, client and user configs, as the release's bin/kafka-
# configs.sh does (org.apache.kafka.tools.ConfigCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConfigCommand "$@"
