module github.com/zkrecipes/zkrecipes/cmd/zkr

go 1.25.0

require (
	github.com/go-zookeeper/zk v1.0.4
	github.com/spf13/cobra v1.10.2
	github.com/zkrecipes/zkrecipes v0.0.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace github.com/zkrecipes/zkrecipes => ../..
