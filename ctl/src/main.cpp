// fogctl: the iofogctl-compatible operator CLI of fogmesh.
#include <signal.h>

#include "fogmesh/ctl/cli.hpp"

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  return fogmesh::ctl::run(argc, argv);
}
