// Command shadowtap is a passive API traffic analyzer: it reads captures (or a
// live interface), reassembles HTTP, inventories endpoints and raises alerts.
package main
