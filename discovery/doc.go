// Package discovery is service discovery on ZooKeeper, wire-compatible with Apache
// Curator 5.x's ServiceDiscovery: Go and Java services register in, and read from, the
// same tree.
//
// The layout is Curator's: basePath/<service name>/<instance id>, one znode per
// instance, holding the instance as JSON (see JSON for the exact format and how the
// payload is typed for Java). Parents are containers, removed by ZooKeeper once empty.
//
//   - Instance is one registered instance (NewInstance fills in Curator's defaults);
//     UriSpec is its URI template.
//   - Discovery registers, updates and unregisters instances and keeps them registered
//     across session expiry; it also answers one-off queries.
//   - Cache keeps one service's instances in memory and reports what changes.
//   - Provider picks instances from a Cache: filters, a down-instance policy and a
//     Strategy (RoundRobin, Random, Sticky).
//
// Differences from Curator, all invisible on the wire: Register of an existing id
// overwrites the znode instead of deleting and re-creating it; bad data in the service
// directory is skipped by every reader here (Curator's queries fail for the whole
// service); cache events say what was added, updated and removed; a DynamicSequential
// instance is never duplicated by a re-registration.
package discovery
