#include <cstdio>
#include <cstring>

#include "fogmesh/router/version.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("fogmesh-router %s\n", fogmesh::router::version().data());
      return 0;
    }
  }
  std::fprintf(stderr, "fogmesh-router: not implemented yet\n");
  return 1;
}
