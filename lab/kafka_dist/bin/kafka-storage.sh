#!/bin/bash
# Formats and inspects KRaft storage directories, as the release's bin/kafka-storage.sh does
# (kafka.tools.StorageTool).
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
