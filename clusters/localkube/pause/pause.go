// The pod sandbox's one process. It holds the pod's namespaces open for the
// containers that join them and ends cleanly when the kubelet stops the pod.
// Built here so that no image has to come from a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
