// getent for the strategy image: the hosts databases only, in glibc's output format.
//
// Bitnami's etcd scripts, which the self-healing strategies follow, count a
// headless Service's addresses with `getent ahosts`. busybox has no getent,
// so this one resolves the way glibc would in a pod: /etc/hosts, then DNS
// through /etc/resolv.conf with its search domains and ndots (Go's own
// resolver reads both). Exit status as glibc's: 2 when the name is unknown.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: getent hosts|ahosts|ahostsv4|ahostsv6 NAME...")
	os.Exit(1)
}

func lookup(database, name string) ([]net.IP, error) {
	family := map[string]string{"hosts": "ip", "ahosts": "ip", "ahostsv4": "ip4", "ahostsv6": "ip6"}[database]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupIP(ctx, family, name)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	database := os.Args[1]
	switch database {
	case "hosts", "ahosts", "ahostsv4", "ahostsv6":
	default:
		fmt.Fprintf(os.Stderr, "Unknown database: %s\n", database)
		os.Exit(1)
	}
	status := 0
	for _, name := range os.Args[2:] {
		addresses, err := lookup(database, name)
		if err != nil || len(addresses) == 0 {
			status = 2
			continue
		}
		for _, ip := range addresses {
			if database == "hosts" {
				fmt.Printf("%-15s %s\n", ip, name)
				continue
			}
			fmt.Printf("%-15s STREAM %s\n%-15s DGRAM  \n%-15s RAW    \n", ip, name, ip, ip)
		}
	}
	os.Exit(status)
}
