// Command overhead is the eBPF sensor's side of bpf/overhead.sh: with
// -serve it is the HTTP server wrk loads; with -sensor it runs the sensor
// on one port until SIGINT and prints what it saw and what it cost.
package main
