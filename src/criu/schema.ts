/**
 * The protobuf schema ferry uses to talk to CRIU and read its images: only the messages and fields
 * ferry needs, with CRIU's own names and field numbers (criu/images/rpc.proto, inventory.proto,
 * pagemap.proto, stats.proto, pstree.proto, core.proto, creds.proto, mm.proto, fdinfo.proto,
 * regfile.proto of CRIU 4.1.x). All proto2, as in CRIU.
 *
 * Written as data in the shape of a protobufjs JSON descriptor rather than as .proto text: codec.ts
 * walks it with protobufjs/minimal's Reader and Writer, so no .proto parser, reflection or code
 * generation is loaded at run time. That keeps `ferry` startup short where every millisecond
 * counts (the soft-dirty lab runs Node under qemu TCG, ~10x slower than native).
 * Unknown fields in CRIU's messages are skipped by the decoder, so newer CRIUs stay readable.
 */

export type ScalarType = 'int32' | 'uint32' | 'uint64' | 'bool' | 'string';
export interface FieldSpec {
  /** A scalar type or the name of another message. */
  type: string;
  id: number;
  rule?: 'required' | 'repeated';
  options?: Record<string, unknown>;
}
type Fields = Record<string, FieldSpec>;

const req = (type: string, id: number) => ({ type, id, rule: 'required' as const });
const opt = (type: string, id: number) => ({ type, id });
const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' as const });

const rpcMessages: Record<string, { fields: Fields }> = {
  criu_page_server_info: {
    fields: { address: opt('string', 1), port: opt('int32', 2), pid: opt('int32', 3), fd: opt('int32', 4) },
  },
  criu_opts: {
    fields: {
      // Required by the protocol even when a request has no images (it is then -1).
      images_dir_fd: { type: 'int32', id: 1, rule: 'required', options: { default: -1 } },
      pid: opt('int32', 2),
      leave_running: opt('bool', 3),
      ext_unix_sk: opt('bool', 4),
      tcp_established: opt('bool', 5),
      shell_job: opt('bool', 7),
      file_locks: opt('bool', 8),
      log_level: opt('int32', 9),
      log_file: opt('string', 10),
      ps: opt('criu_page_server_info', 11),
      notify_scripts: opt('bool', 12),
      parent_img: opt('string', 14),
      track_mem: opt('bool', 15),
      work_dir_fd: opt('int32', 17),
      link_remap: opt('bool', 18),
      rst_sibling: opt('bool', 26),
      external: rep('string', 37),
      lazy_pages: opt('bool', 48),
      pre_dump_mode: opt('int32', 61),
      leave_stopped: opt('bool', 69),
    },
  },
  criu_dump_resp: { fields: { restored: opt('bool', 1) } },
  criu_restore_resp: { fields: { pid: req('int32', 1) } },
  criu_notify: { fields: { script: opt('string', 1), pid: opt('int32', 2) } },
  criu_features: { fields: { mem_track: opt('bool', 1), lazy_pages: opt('bool', 2), pidfd_store: opt('bool', 3) } },
  criu_req: {
    fields: {
      type: req('int32', 1),
      opts: opt('criu_opts', 2),
      notify_success: opt('bool', 3),
      keep_open: opt('bool', 4),
      features: opt('criu_features', 5),
      pid: opt('uint32', 6),
    },
  },
  criu_resp: {
    fields: {
      type: req('int32', 1),
      success: req('bool', 2),
      dump: opt('criu_dump_resp', 3),
      restore: opt('criu_restore_resp', 4),
      notify: opt('criu_notify', 5),
      ps: opt('criu_page_server_info', 6),
      cr_errno: opt('int32', 7),
      features: opt('criu_features', 8),
      cr_errmsg: opt('string', 9),
      version: opt('criu_version', 10),
      status: opt('int32', 11),
    },
  },
  criu_version: {
    fields: {
      major_number: req('int32', 1),
      minor_number: req('int32', 2),
      gitid: opt('string', 3),
      sublevel: opt('int32', 4),
      extra: opt('int32', 5),
      name: opt('string', 6),
    },
  },
};

const imageMessages: Record<string, { fields: Fields }> = {
  inventory_entry: {
    fields: {
      img_version: req('uint32', 1),
      fdinfo_per_id: opt('bool', 2),
      ns_per_id: opt('bool', 4),
      root_cg_set: opt('uint32', 5),
      // Microseconds since boot at dump time; written only by memory-tracking dumps (pre-dumps and
      // dumps with a parent). CRIU compares it with the task's start time to detect pid reuse.
      dump_uptime: opt('uint64', 8),
      // Present only in pre-dump images (1 = splice, 2 = read): how ferry tells a pre-dump apart.
      pre_dump_mode: opt('uint32', 9),
      tcp_close: opt('bool', 10),
      network_lock_method: opt('uint32', 11),
      dump_criu_run_id: opt('string', 13),
    },
  },
  pagemap_head: { fields: { pages_id: req('uint32', 1) } },
  pagemap_entry: {
    fields: {
      vaddr: req('uint64', 1),
      // uint32 page count of CRIU <= 4.1; newer CRIUs also write the 64-bit count in field 5.
      nr_pages: req('uint32', 2),
      in_parent: opt('bool', 3),
      flags: opt('uint32', 4),
      nr_pages_64: opt('uint64', 5),
    },
  },
  pstree_entry: {
    fields: { pid: req('uint32', 1), ppid: req('uint32', 2), pgid: req('uint32', 3), sid: req('uint32', 4), threads: rep('uint32', 5) },
  },
  dump_stats_entry: {
    fields: {
      freezing_time: req('uint32', 1),
      frozen_time: req('uint32', 2),
      memdump_time: req('uint32', 3),
      memwrite_time: req('uint32', 4),
      pages_scanned: req('uint64', 5),
      pages_skipped_parent: req('uint64', 6),
      pages_written: req('uint64', 7),
      irmap_resolve: opt('uint32', 8),
      pages_lazy: req('uint64', 9),
      page_pipes: opt('uint64', 10),
      page_pipe_bufs: opt('uint64', 11),
    },
  },
  restore_stats_entry: {
    fields: {
      pages_compared: req('uint64', 1),
      pages_skipped_cow: req('uint64', 2),
      forking_time: req('uint32', 3),
      restore_time: req('uint32', 4),
      pages_restored: opt('uint64', 5),
    },
  },
  stats_entry: { fields: { dump: opt('dump_stats_entry', 1), restore: opt('restore_stats_entry', 2) } },
  // What a restore would make each process: who it runs as and which executable it runs. Read
  // before CRIU restores (criu/imaged-processes.ts) so the host policy can refuse first. CRIU
  // declares most of these fields required; they are optional here and checked where read.
  core_entry: { fields: { tc: opt('task_core_entry', 3), thread_core: opt('thread_core_entry', 5) } },
  task_core_entry: { fields: { task_state: opt('uint32', 1), comm: opt('string', 6) } },
  thread_core_entry: { fields: { creds: opt('creds_entry', 10) } },
  creds_entry: {
    fields: { uid: opt('uint32', 1), gid: opt('uint32', 2), euid: opt('uint32', 3), egid: opt('uint32', 4), suid: opt('uint32', 5), sgid: opt('uint32', 6), fsuid: opt('uint32', 7), fsgid: opt('uint32', 8) },
  },
  mm_entry: { fields: { exe_file_id: opt('uint32', 12) } },
  file_entry: { fields: { type: opt('uint32', 1), id: opt('uint32', 2), reg: opt('reg_file_entry', 3) } },
  reg_file_entry: { fields: { id: opt('uint32', 1), name: opt('string', 6) } },
};

/** Every message ferry encodes or decodes, by CRIU's message name. */
export const CRIU_MESSAGES: Readonly<Record<string, { fields: Fields }>> = { ...rpcMessages, ...imageMessages };

/** criu_req_type values. */
export const ReqType = {
  EMPTY: 0,
  DUMP: 1,
  RESTORE: 2,
  CHECK: 3,
  PRE_DUMP: 4,
  PAGE_SERVER: 5,
  NOTIFY: 6,
  FEATURE_CHECK: 9,
  VERSION: 10,
  WAIT_PID: 11,
  PAGE_SERVER_CHLD: 12,
  SINGLE_PRE_DUMP: 13,
} as const;

/** pagemap_entry.flags bits (criu/include/pagemap.h). */
export const PE_PARENT = 1 << 0;
export const PE_LAZY = 1 << 1;
export const PE_PRESENT = 1 << 2;

/** Image file magics (criu/include/magic.h). */
export const IMG_COMMON_MAGIC = 0x54564319;
export const IMG_SERVICE_MAGIC = 0x55105940;
export const INVENTORY_MAGIC = 0x58313116;
export const PAGEMAP_MAGIC = 0x56084025;
export const PSTREE_MAGIC = 0x50273030;
export const STATS_MAGIC = 0x57093306;
export const CORE_MAGIC = 0x55053847;
export const MM_MAGIC = 0x57492820;
export const FILES_MAGIC = 0x56303138;
