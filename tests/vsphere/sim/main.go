// hyperctl-vcsim: the vSphere test bed of hyperctl's tests and benchmarks,
// built on govmomi's simulator (Debian golang-github-vmware-govmomi-dev, GOPATH
// mode, nothing downloaded).
//
//	hyperctl-vcsim serve [flags]   a simulated vCenter (-mode vpx) or ESXi host
//	                               (-mode esx) over HTTPS on 127.0.0.1
//	hyperctl-vcsim show  [flags]   the whole inventory as one JSON document, read
//	                               through a second session (govmomi's client)
//	hyperctl-vcsim files [flags]   the files of a datastore folder as JSON
//
// Run a subcommand with -h for its flags.
package main

import (
	"fmt"
	"os"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hyperctl-vcsim serve|show|files [flags] (-h for the flags of each)")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "show":
		err = show(os.Args[2:])
	case "files":
		err = files(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hyperctl-vcsim %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
