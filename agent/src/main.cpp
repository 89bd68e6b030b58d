// fogmesh-agent: see `fogmesh-agent --help` and agent/README.md.
#include "fogmesh/agent/daemon.hpp"

int main(int argc, char** argv) { return fogmesh::agent::run_cli(argc, argv); }
