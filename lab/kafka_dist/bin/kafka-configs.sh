#!/bin/bash
# Describes and alters broker, topic, client and user configs, as the release's bin/kafka-
# configs.sh does: org.apache.kafka.tools.ConfigCommand from 4.4, kafka.admin.ConfigCommand
# (the broker's jar) in 4.0-4.3.
class=org.apache.kafka.tools.ConfigCommand
for jar in "$(dirname "$0")"/../libs/kafka-tools-4.[0-3].*.jar; do
  [ -e "$jar" ] && class=kafka.admin.ConfigCommand
done
exec "$(dirname "$0")/kafka-run-class.sh" "$class" "$@"
