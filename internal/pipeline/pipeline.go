// Package pipeline lets the recipes of this module queue reads right behind a protected
// create on the same session, so that they travel in the same round trip. ZooKeeper
// answers one session's requests in the order they were sent, so a read sent after the
// create is answered after the create has been applied; go-zk sends requests in the order
// they were queued, but callers on other goroutines cannot be ordered against its queue,
// so a read may still overtake the create. A recipe must therefore check every pipelined
// answer (is its node in the listing? is the node read the one the create returned?) and
// read again when it is not: correctness never depends on the pipelining.
//
// The hook is set in an init function of the root package, which this package cannot
// import; it is nil until that package is linked in (it always is, for a recipe).
package pipeline

// BeforeSend returns a zkrecipes.CreateOption (typed as any) that makes
// Client.CreateProtected call fn with each attempt's target path just before the attempt
// is handed to go-zk: relative to the namespace, with the protection prefix, without the
// sequence suffix the server adds. fn runs on the goroutine that then sends the create and
// must not block; it is meant to start the goroutines that send the reads, which go-zk
// then most often queues after the create.
var BeforeSend func(fn func(target string)) any
