/*
 * ferry's one native helper: a SOCK_SEQPACKET socketpair.
 *
 * CRIU's `swrk` mode speaks its RPC over an inherited SEQPACKET socket, one
 * protobuf message per packet. Node's `net` module offers neither socketpair()
 * nor SEQPACKET, so this addon creates the pair; the parent end is then driven
 * by node-unix-socket's SeqpacketSocket and the child end becomes `criu swrk`'s fd 3.
 *
 * Both ends are created blocking and close-on-exec: CRIU needs a blocking socket
 * (a non-blocking one fails with EAGAIN on its first read), and close-on-exec
 * keeps the pair from leaking into unrelated children; spawn() dup2()s the child
 * end into place, which clears the flag on the copy the child gets.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s", what, strerror(err));
  napi_throw_error(env, "ERR_FERRY_NATIVE", msg);
  return NULL;
}

static napi_value seqpacket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return throw_errno(env, "socketpair(AF_UNIX, SOCK_SEQPACKET)", errno);
  }
  napi_value result, a, b;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fds[0], &a);
  napi_create_int32(env, fds[1], &b);
  napi_set_element(env, result, 0, a);
  napi_set_element(env, result, 1, b);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "seqpacketPair", NAPI_AUTO_LENGTH, seqpacket_pair, NULL, &fn);
  napi_set_named_property(env, exports, "seqpacketPair", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
