// spdlog's implementation, compiled once into fogmesh_common for builds with
// FOGMESH_STATIC_ROUTER (cmake/FogmeshDependencies.cmake). Debian ships spdlog only as a shared
// library; header-only mode would compile all of this again in every file that logs (about 6 s of
// CPU each), so the files keep spdlog's "compiled library" mode and this file is that library.
// Only what fogmesh uses is instantiated: a missing piece is a link error, not a silent change.
#ifndef SPDLOG_COMPILED_LIB
#error "spdlog_compiled.cpp is built only with FOGMESH_STATIC_ROUTER (SPDLOG_COMPILED_LIB)"
#endif

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/spdlog-inl.h>

#include <mutex>

// The default logger (registry) writes to stdout in colour; fogmesh's loggers to stderr.
template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::base_sink<spdlog::details::null_mutex>;
