// fogctl's command line: parses argv, runs one verb, returns the process exit status
// (0 ok, 1 failed, 2 usage error). Output goes to stdout, errors to stderr.
#pragma once

namespace fogmesh::ctl {

int run(int argc, char** argv);

}  // namespace fogmesh::ctl
