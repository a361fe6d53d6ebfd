// SecureStore: encrypted, crash-safe storage for private on-device data (features,
// personalization state, training examples).
//
//   privedge::KeystoreOptions ks_options;
//   ks_options.create_if_missing = true;
//   PE_ASSIGN_OR_RETURN(std::shared_ptr<privedge::Keystore> ks,
//                       privedge::OpenKeystore(ks_options));
//   privedge::SecureStoreOptions options;
//   options.create_if_missing = true;
//   PE_ASSIGN_OR_RETURN(auto store, privedge::SecureStore::Open("/data/app/store", ks, options));
//   PE_RETURN_IF_ERROR(store->CreateSilo("keyboard"));
//   PE_ASSIGN_OR_RETURN(uint64_t seq, store->Append("keyboard", example_bytes));
//   PE_RETURN_IF_ERROR(store->Put("keyboard", key_bytes, value_bytes));
//   PE_RETURN_IF_ERROR(store->Scan("keyboard", [](const privedge::SecureRecord& r) {
//     Use(r.value);               // decrypted, in locked memory, valid during the call only
//     return privedge::Status::OK();
//   }));
//   PE_RETURN_IF_ERROR(store->DeleteSilo("keyboard"));   // crypto-shredding
//
// A store is a directory. Its data is divided into silos (e.g. "health", "keyboard"), each an
// append-only log of records encrypted with the silo's own random 256-bit key. The silo key is
// wrapped by the device Keystore, so the files are unreadable on any other device and to
// anyone without the keystore. Deleting a silo destroys its key before its log: whatever copy
// of the log survives can no longer be decrypted with anything left on the device.
//
// Records are either plain appends (a value) or keyed (Put/Delete of a key and a value; a Put
// replaces the earlier value of its key). Every record is authenticated together with its silo,
// its position in the log and its length: an altered, moved, swapped or spliced record is
// reported (Unauthenticated with the silo, record number and file offset), never skipped.
//
// Durability: a call that changes a silo returns after its record is written and, with
// `SecureStoreOptions::sync` (the default), flushed with fdatasync. A writer killed at any
// moment, or a power cut, loses at most the record being written: when the silo is next opened,
// what that unfinished write left (a partial record, zeros, a failed tag), recognized by having
// no record after it, is cut off and counted in SiloStats::recovered_tail_bytes; every earlier
// record stays readable. Damage with a record after it is reported, never cut or skipped.
//
// What the files reveal: silo names (file names), the number of records and the length of each
// (not their content or keys), and when they were written. No plaintext byte is ever written to
// disk, temporary files included; decrypted records live in SecureBuffers (locked, wiped).
// An attacker with write access to the files can roll a silo back to an older copy or cut
// records off its end (no monotonic counter protects freshness); anything else is detected.
//
// Design and file formats: docs/secure-store.md.
//
// Thread-safety: all calls on one SecureStore may be made from several threads; they serialize
// on an internal mutex. One directory is open in at most one SecureStore at a time (an
// exclusive lock on DIR/LOCK, across processes); a second Open fails with IoError.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "privedge/keystore.h"
#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge {

struct SecureStoreOptions {
  // Create the store directory (mode 0700) when it does not exist.
  bool create_if_missing = false;
  // fdatasync every committed record (and every file a change creates). With false, a killed
  // process still loses nothing committed, but an OS crash or power cut may lose the records
  // written since the OS last flushed them (or damage them: reported when the silo is opened);
  // records flushed before are never affected.
  bool sync = true;
  // Largest record (key + value) accepted by Append/Put and when reading a log; a larger length
  // in a log is reported as corruption instead of being allocated.
  size_t max_record_bytes = size_t{64} << 20;
};

// One decrypted record, handed to a Scan callback. The spans point into a SecureBuffer that is
// wiped when the callback returns: copy what must outlive it (into a SecureBuffer).
struct SecureRecord {
  // Position of the record in its silo's log (0, 1, ...). Positions change on Compact.
  uint64_t seq = 0;
  // Empty for records written by Append.
  std::span<const uint8_t> key;
  std::span<const uint8_t> value;
};

struct SiloStats {
  uint64_t live_records = 0;  // what Count returns: appends plus current keyed values
  uint64_t log_records = 0;   // records in the log, including replaced values and deletions
  uint64_t log_bytes = 0;     // size of the log file
  // Bytes of a torn last record cut off when the silo was opened (0 after a clean shutdown).
  uint64_t recovered_tail_bytes = 0;
};

class SecureStore {
 public:
  // Opens the store in `dir` using `keystore` for the silo keys (it is shared: the store keeps
  // a reference). Finishes any deletion or compaction that a crash interrupted. Silos are read
  // (key unwrapped, log verified) on first use, not here.
  // Errors: dir missing without create_if_missing (NotFound), not a directory or locked by
  // another SecureStore (IoError), keystore null (InvalidArgument).
  static Result<std::unique_ptr<SecureStore>> Open(const std::string& dir,
                                                   std::shared_ptr<Keystore> keystore,
                                                   const SecureStoreOptions& options = {});
  ~SecureStore();
  SecureStore(const SecureStore&) = delete;
  SecureStore& operator=(const SecureStore&) = delete;

  // Creates an empty silo with a new random key. Names are 1 to 64 characters from
  // [A-Za-z0-9_-]. Errors: bad name (InvalidArgument), silo exists (InvalidArgument).
  Status CreateSilo(std::string_view silo);
  // Destroys the silo: its key file is overwritten with random bytes, flushed and unlinked
  // (and the unwrapped key wiped from memory) before the log is removed. Errors: NotFound.
  Status DeleteSilo(std::string_view silo);
  // Names of the silos, sorted.
  Result<std::vector<std::string>> ListSilos();

  // Appends `value` as a record without a key. Returns its position (SecureRecord::seq).
  Result<uint64_t> Append(std::string_view silo, std::span<const uint8_t> value);
  // Writes `value` under `key` (1 byte to 64 KiB), replacing the key's earlier value.
  Status Put(std::string_view silo, std::span<const uint8_t> key, std::span<const uint8_t> value);
  // The current value of `key`. Errors: no such key (NotFound).
  Result<SecureBuffer> Get(std::string_view silo, std::span<const uint8_t> key);
  // Removes `key` by appending a deletion record. Errors: no such key (NotFound).
  Status Delete(std::string_view silo, std::span<const uint8_t> key);

  // Calls `visit` for every live record (appends and current keyed values) in log order; stops
  // at and returns the first error `visit` returns. Each record is read and authenticated
  // again from the file. `visit` runs under the store's lock: it must not call the store.
  Status Scan(std::string_view silo, const std::function<Status(const SecureRecord&)>& visit);
  // Number of live records.
  Result<uint64_t> Count(std::string_view silo);
  Result<SiloStats> Stats(std::string_view silo);

  // Rewrites the silo's log with its live records only, under a new silo key, and destroys the
  // old key: replaced and deleted values become unrecoverable even from a copy of the old log.
  // Atomic: a crash leaves either the old or the new silo, never a mix.
  Status Compact(std::string_view silo);

  struct Impl;

 private:
  explicit SecureStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace privedge
