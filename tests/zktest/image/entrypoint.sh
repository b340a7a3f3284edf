#!/bin/bash
# Entrypoint of zkrecipes/zookeeper:3.8, the ZooKeeper image build.sh makes from Debian's packages.
#
# It honours the environment interface of the official `zookeeper` image, so the test harness and
# users can switch between the two by setting ZK_IMAGE alone:
#   ZOO_MY_ID                  this server's id, written to $ZOO_DATA_DIR/myid if that file is missing (1)
#   ZOO_SERVERS                space-separated "server.N=host:2888:3888;2181" entries
#                              (default: a single server.1=localhost:2888:3888;2181)
#   ZOO_TICK_TIME (2000)  ZOO_INIT_LIMIT (5)  ZOO_SYNC_LIMIT (2)  ZOO_MAX_CLIENT_CNXNS (60)
#   ZOO_STANDALONE_ENABLED (true)  ZOO_ADMINSERVER_ENABLED (false here; true in the official image)
#   ZOO_AUTOPURGE_PURGEINTERVAL (0)  ZOO_AUTOPURGE_SNAPRETAINCOUNT (3)
#   ZOO_4LW_COMMANDS_WHITELIST (srvr,ruok,mntr,cons,wchs,wchc,stat,dump,conf,envi)
#   ZOO_CFG_EXTRA              space-separated extra key=value lines for zoo.cfg
#   ZOO_CONF_DIR (/conf)  ZOO_DATA_DIR (/data)  ZOO_DATA_LOG_DIR (/datalog)
#   ZK_SERVER_HEAP (1000, in MB)  SERVER_JVMFLAGS  JVMFLAGS   as zkServer.sh reads them
#   ZOO_LOG_LEVEL (info)       slf4j-simple's level for the server log on stdout
# Like the official image, zoo.cfg is generated only when $ZOO_CONF_DIR/zoo.cfg does not exist, so
# a container that is stopped and started keeps its configuration, and a mounted zoo.cfg wins.
#
# With no arguments (or the official image's `zkServer.sh start-foreground`) it runs the server in
# the foreground as PID 1; any other command is run as given (e.g. `bash`).
set -euo pipefail

: "${ZOO_CONF_DIR:=/conf}" "${ZOO_DATA_DIR:=/data}" "${ZOO_DATA_LOG_DIR:=/datalog}"
: "${ZOO_TICK_TIME:=2000}" "${ZOO_INIT_LIMIT:=5}" "${ZOO_SYNC_LIMIT:=2}"
: "${ZOO_MAX_CLIENT_CNXNS:=60}" "${ZOO_STANDALONE_ENABLED:=true}" "${ZOO_ADMINSERVER_ENABLED:=false}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL:=0}" "${ZOO_AUTOPURGE_SNAPRETAINCOUNT:=3}"
: "${ZOO_4LW_COMMANDS_WHITELIST=srvr,ruok,mntr,cons,wchs,wchc,stat,dump,conf,envi}"
: "${ZOO_SERVERS:=}" "${ZOO_CFG_EXTRA:=}" "${ZOO_MY_ID:=1}"
: "${ZK_SERVER_HEAP:=1000}" "${SERVER_JVMFLAGS:=}" "${JVMFLAGS:=}" "${ZOO_LOG_LEVEL:=info}"

if [[ $# -gt 0 && "$1" != zkServer.sh ]]; then
	exec "$@"
fi

mkdir -p "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
config="$ZOO_CONF_DIR/zoo.cfg"

if [[ ! -f "$config" ]]; then
	servers=${ZOO_SERVERS:-"server.1=localhost:2888:3888;2181"}
	{
		echo "dataDir=$ZOO_DATA_DIR"
		echo "dataLogDir=$ZOO_DATA_LOG_DIR"
		echo "tickTime=$ZOO_TICK_TIME"
		echo "initLimit=$ZOO_INIT_LIMIT"
		echo "syncLimit=$ZOO_SYNC_LIMIT"
		echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
		echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
		echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
		echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
		echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
		# Members name each other by container hostname; the name a member has for itself may
		# resolve to an address it cannot bind (or to 127.0.0.1), so listen on every interface.
		echo "quorumListenOnAllIPs=true"
		# The official image takes the client port from this server's ";2181" suffix alone; an
		# entry without one would leave the server unreachable, so fall back to 2181 (writing both
		# is refused by ZooKeeper when they differ).
		own=""
		for server in $servers; do
			if [[ "$server" == "server.$ZOO_MY_ID="* ]]; then
				own=$server
			fi
		done
		if [[ "$own" != *";"* ]]; then
			echo "clientPort=2181"
		fi
		if [[ -n "$ZOO_4LW_COMMANDS_WHITELIST" ]]; then
			echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
		fi
		for server in $servers; do
			echo "$server"
		done
		for extra in $ZOO_CFG_EXTRA; do
			echo "$extra"
		done
	} >"$config.tmp"
	mv "$config.tmp" "$config"
fi

if [[ ! -f "$ZOO_DATA_DIR/myid" ]]; then
	echo "$ZOO_MY_ID" >"$ZOO_DATA_DIR/myid"
fi

# zookeeper.jar's manifest lists its dependencies; slf4j-simple gives the server a log on stdout
# (Debian wires no logging backend, so without it the server is silent). $ZOO_CONF_DIR comes last
# so a mounted simplelogger.properties can tune the log.
classpath=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:$ZOO_CONF_DIR

# Word splitting of the *JVMFLAGS variables is intended: they hold several flags, as in zkServer.sh.
# shellcheck disable=SC2086
exec java \
	"-Xmx${ZK_SERVER_HEAP}m" \
	-XX:+ExitOnOutOfMemoryError \
	-Dorg.slf4j.simpleLogger.logFile=System.out \
	-Dorg.slf4j.simpleLogger.showDateTime=true \
	"-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ" \
	"-Dorg.slf4j.simpleLogger.defaultLogLevel=$ZOO_LOG_LEVEL" \
	$SERVER_JVMFLAGS $JVMFLAGS \
	-cp "$classpath" \
	org.apache.zookeeper.server.quorum.QuorumPeerMain "$config"
