// Volume upload and download by streaming (virStorageVolUpload/Download over
// a virStream), so that they work over remote connections too.
//
// Atomicity:
// - download: the bytes go to ".NAME.hyperctl-partial-PID" beside the final
//   file, which is fsync'ed and renamed (or hard-linked when the final name
//   must not be replaced) only once the stream finished; a failure or a
//   cancel removes it; a killed process leaves only that hidden file.
// - upload: the bytes go to a staging volume "NAME.hyperctl-partial" of the
//   file's size; only once the stream finished does it replace NAME: on a
//   local connection with a directory pool by rename(2) of the staging file
//   over the final path and a pool refresh (instant, atomic), otherwise by
//   deleting NAME (when overwriting) and cloning the staging volume to NAME
//   byte for byte, done by the daemon. A failure or a cancel deletes the
//   staging volume; a killed process leaves it, with its name saying it is
//   incomplete, and the next upload to NAME refuses to start until it is
//   deleted.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "errors.hpp"
#include "hyperctl/size.hpp"
#include "ops.hpp"
#include "storage_common.hpp"
#include "stream.hpp"

namespace hyperctl::lv {
namespace {

using namespace storage;

constexpr std::size_t kChunk = 256 * 1024;

/// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

/// The temporary file of a download; removed unless kept.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)) {}
  ~PartialFile() {
    if (!kept_) ::unlink(path_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  const std::string& path() const { return path_; }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};

/// The staging volume of an upload; deleted unless released.
class StagingVolume {
 public:
  StagingVolume(const Session& s, VolPtr vol) : s_(s), vol_(std::move(vol)) {}
  ~StagingVolume() {
    if (vol_ && virStorageVolDelete(vol_.get(), 0) < 0) take_last_error(s_.get());
  }
  StagingVolume(const StagingVolume&) = delete;
  StagingVolume& operator=(const StagingVolume&) = delete;
  virStorageVolPtr get() const { return vol_.get(); }
  void release() { vol_.reset(); }

 private:
  const Session& s_;
  VolPtr vol_;
};

std::string local_label(const std::string& path) {
  return quoted(path);
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void report(const ProgressFn& progress, const char* phase, std::uint64_t done,
            std::uint64_t total) {
  if (!progress) return;
  Progress p;
  p.phase = phase;
  p.done = done;
  p.total = total;
  p.unit = "bytes";
  progress(p);
}

void fsync_folder(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- download

void LibvirtStorageOps::download_volume(const std::string& pool_name, const std::string& name,
                                        const std::string& local_path,
                                        const TransferOptions& options, const ProgressFn& progress,
                                        const CancelToken& cancel) {
  guarded("volume.download", [&] {
    const std::string op = "volume.download";
    if (local_path.empty()) throw Error(ErrorCode::InvalidArgument, "no local file named", op);
    auto pool = find_active_pool(s_, pool_name, op);
    auto vol = find_volume(s_, pool.get(), pool_name, name, op);

    struct stat st {};
    if (::stat(local_path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        throw Error(ErrorCode::InvalidArgument,
                    local_label(local_path) + " is a folder; name the file to write", op);
      if (!options.overwrite)
        throw Error(ErrorCode::AlreadyExists,
                    "local file " + local_label(local_path) +
                        " already exists (use --overwrite to replace it)",
                    op);
      if (!S_ISREG(st.st_mode))
        throw Error(ErrorCode::InvalidArgument,
                    local_label(local_path) + " is not a regular file; it is not replaced", op);
    }
    const std::string dir = parent_of(local_path);
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
      throw Error(ErrorCode::NotFound, "folder " + local_label(dir) + " does not exist", op);

    std::uint64_t total = 0;
    virStorageVolInfo info;
    if (virStorageVolGetInfoFlags(vol.get(), &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0)
      total = info.allocation;  // with GET_PHYSICAL: the size of the file
    else if (virStorageVolGetInfo(vol.get(), &info) == 0)
      total = info.capacity;
    take_last_error(s_.get());

    PartialFile partial(dir + "/." + base_of(local_path) + kPartialSuffix + "-" +
                        std::to_string(::getpid()));
    Fd fd(::open(partial.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (fd.get() < 0) {
      const int err = errno;
      partial.keep();  // not ours to remove
      throw Error(ErrorCode::InvalidArgument,
                  "cannot write in folder " + local_label(dir) + ": " + std::strerror(err), op);
    }

    ActiveStream stream(s_, op);
    if (virStorageVolDownload(vol.get(), stream.get(), 0, 0, 0) < 0) {
      auto e = take_last_error(s_.get());
      stream.abort();
      fail(e, "cannot download volume " + volume_label(pool_name, name), op);
    }
    std::vector<char> buf(kChunk);
    std::uint64_t done = 0;
    report(progress, "download", 0, total);
    for (;;) {
      if (cancel.cancelled()) {
        stream.abort();
        throw Error(
            ErrorCode::Cancelled,
            "download of volume " + volume_label(pool_name, name) + " cancelled; no file written",
            op);
      }
      const int n = virStreamRecv(stream.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        auto e = take_last_error(s_.get());
        stream.abort();
        fail(e, "cannot download volume " + volume_label(pool_name, name), op);
      }
      if (!write_all(fd.get(), buf.data(), static_cast<std::size_t>(n))) {
        const int err = errno;
        stream.abort();
        throw Error(ErrorCode::BackendFailure,
                    "cannot write " + local_label(local_path) + ": " + std::strerror(err), op);
      }
      done += static_cast<std::uint64_t>(n);
      report(progress, "download", done, total > done ? total : done);
    }
    if (!stream.finish())
      fail(s_.get(), "cannot download volume " + volume_label(pool_name, name), op);
    if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
      const int err = errno;
      throw Error(ErrorCode::BackendFailure,
                  "cannot write " + local_label(local_path) + ": " + std::strerror(err), op);
    }

    // Put it in place: replace only when asked; otherwise a hard link fails
    // rather than clobber a file that appeared meanwhile.
    if (options.overwrite) {
      if (::rename(partial.path().c_str(), local_path.c_str()) != 0) {
        const int err = errno;
        throw Error(
            ErrorCode::BackendFailure,
            "cannot rename the download to " + local_label(local_path) + ": " + std::strerror(err),
            op);
      }
      partial.keep();
    } else if (::link(partial.path().c_str(), local_path.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST)
        throw Error(ErrorCode::AlreadyExists,
                    "local file " + local_label(local_path) +
                        " appeared during the download; it was left alone",
                    op);
      // File systems without hard links: check again, then rename.
      if (::stat(local_path.c_str(), &st) == 0)
        throw Error(ErrorCode::AlreadyExists,
                    "local file " + local_label(local_path) +
                        " appeared during the download; it was left alone",
                    op);
      if (::rename(partial.path().c_str(), local_path.c_str()) != 0) {
        const int err2 = errno;
        throw Error(
            ErrorCode::BackendFailure,
            "cannot rename the download to " + local_label(local_path) + ": " + std::strerror(err2),
            op);
      }
      partial.keep();
    }
    // With the link made, the destructor removes the temporary name.
    fsync_folder(dir);
  });
}

// ---------------------------------------------------------------- upload

void LibvirtStorageOps::upload_volume(const std::string& pool_name, const std::string& name,
                                      const std::string& local_path, const TransferOptions& options,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  guarded("volume.upload", [&] {
    const std::string op = "volume.upload";
    validate_new_name("volume", name, op);
    if (local_path.empty()) throw Error(ErrorCode::InvalidArgument, "no local file named", op);

    // The local file first: nothing on the host changes if it cannot be read.
    Fd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      const int err = errno;
      if (err == ENOENT)
        throw Error(ErrorCode::NotFound, "local file " + local_label(local_path) + " not found",
                    op);
      throw Error(ErrorCode::InvalidArgument,
                  "cannot read " + local_label(local_path) + ": " + std::strerror(err), op);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      throw Error(ErrorCode::InvalidArgument, local_label(local_path) + " is not a regular file",
                  op);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size == 0)
      throw Error(ErrorCode::InvalidArgument,
                  local_label(local_path) + " is empty; nothing to upload", op);
    {
      char probe = 0;
      if (::pread(fd.get(), &probe, 1, 0) != 1) {
        const int err = errno;
        throw Error(ErrorCode::InvalidArgument,
                    "cannot read " + local_label(local_path) + ": " + std::strerror(err), op);
      }
    }

    auto pool = find_active_pool(s_, pool_name, op);
    const Pool pool_info = describe_pool(s_, pool.get(), op);
    VolPtr existing = volume_if_exists(s_, pool.get(), pool_name, name, op);
    if (existing) {
      if (!options.overwrite)
        throw Error(ErrorCode::AlreadyExists,
                    "volume " + volume_label(pool_name, name) +
                        " already exists (use --overwrite to replace its content)",
                    op);
      const auto running = vms_using(s_, describe_volume(s_, existing.get(), pool_name), true, op);
      if (!running.empty())
        throw Error(ErrorCode::Conflict,
                    "volume " + volume_label(pool_name, name) + " is in use by running VM " +
                        quoted(running.front()),
                    op);
    }
    const std::string staging_name = name + kPartialSuffix;
    if (volume_if_exists(s_, pool.get(), pool_name, staging_name, op))
      throw Error(ErrorCode::Conflict,
                  "volume " + volume_label(pool_name, staging_name) + " exists: an upload to " +
                      volume_label(pool_name, name) +
                      " is running or was interrupted (delete it if none is running)",
                  op);

    // Raw staging volume of exactly the file's size: the bytes land verbatim,
    // whatever format they are in; libvirt probes the format on refresh.
    VolPtr created(
        virStorageVolCreateXML(pool.get(), volume_xml(staging_name, size, "raw").c_str(), 0));
    if (!created)
      fail(s_.get(), "cannot create staging volume " + volume_label(pool_name, staging_name), op);
    StagingVolume staging(s_, std::move(created));

    {
      ActiveStream stream(s_, op);
      if (virStorageVolUpload(staging.get(), stream.get(), 0, size, 0) < 0) {
        auto e = take_last_error(s_.get());
        stream.abort();
        fail(e, "cannot upload to volume " + volume_label(pool_name, name), op);
      }
      std::vector<char> buf(kChunk);
      std::uint64_t done = 0;
      report(progress, "upload", 0, size);
      while (done < size) {
        if (cancel.cancelled()) {
          stream.abort();
          throw Error(ErrorCode::Cancelled,
                      "upload to volume " + volume_label(pool_name, name) +
                          " cancelled; the volume was not changed",
                      op);
        }
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - done));
        const ssize_t got = ::read(fd.get(), buf.data(), want);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          const int err = got < 0 ? errno : 0;
          stream.abort();
          throw Error(ErrorCode::InvalidArgument,
                      "cannot read " + local_label(local_path) + ": " +
                          (err ? std::strerror(err) : "it got shorter during the upload"),
                      op);
        }
        std::size_t sent = 0;
        while (sent < static_cast<std::size_t>(got)) {
          const int n =
              virStreamSend(stream.get(), buf.data() + sent, static_cast<std::size_t>(got) - sent);
          if (n < 0) {
            auto e = take_last_error(s_.get());
            stream.abort();
            fail(e, "cannot upload to volume " + volume_label(pool_name, name), op);
          }
          sent += static_cast<std::size_t>(n);
        }
        done += static_cast<std::uint64_t>(got);
        report(progress, "upload", done, size);
      }
      if (!stream.finish())
        fail(s_.get(), "cannot upload to volume " + volume_label(pool_name, name), op);
    }

    // Complete: now, and only now, the data takes the final name.
    if (s_.is_local() && !s_.is_test_driver() && pool_info.type == "dir" &&
        !pool_info.path.empty()) {
      CString staging_path(virStorageVolGetPath(staging.get()));
      std::string final_path = pool_info.path + "/" + name;
      if (existing) {
        CString p(virStorageVolGetPath(existing.get()));
        if (p) final_path = p.get();
      }
      struct stat sst {};
      // Only when this process sees the daemon's file (same host, same mount
      // namespace): same size as what was sent.
      if (staging_path && ::stat(staging_path.get(), &sst) == 0 &&
          static_cast<std::uint64_t>(sst.st_size) == size &&
          ::rename(staging_path.get(), final_path.c_str()) == 0) {
        staging.release();
        fsync_folder(pool_info.path);
        // libvirt refuses a refresh while it builds a volume in the pool;
        // try for a few seconds, then say how to finish.
        for (int attempt = 0;; ++attempt) {
          if (virStoragePoolRefresh(pool.get(), 0) == 0) return;
          auto e = take_last_error(s_.get());
          if (attempt == 50)
            fail(e,
                 "uploaded to " + volume_label(pool_name, name) +
                     ", but the pool could not be refreshed (run pool refresh " + pool_name + ")",
                 op);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
    take_last_error(s_.get());

    // Anywhere else: the daemon copies the staging volume byte for byte.
    if (existing) {
      if (virStorageVolDelete(existing.get(), 0) < 0)
        fail(s_.get(), "cannot replace volume " + volume_label(pool_name, name), op);
    }
    VolPtr final_vol(virStorageVolCreateXMLFrom(pool.get(), volume_xml(name, size, "raw").c_str(),
                                                staging.get(), 0));
    if (!final_vol)
      fail(s_.get(), "cannot put the uploaded data in place as " + volume_label(pool_name, name),
           op);
    // staging is deleted on the way out; a refresh lets libvirt probe the
    // format of what was uploaded (a qcow2 image shows as qcow2).
    if (virStoragePoolRefresh(pool.get(), 0) < 0) take_last_error(s_.get());
  });
}

}  // namespace hyperctl::lv

namespace hyperctl::lv {

// ---------------------------------------------------------------- between families

std::string LibvirtStorageOps::export_disk(const std::string& pool, const std::string& name,
                                           const std::string& local_path,
                                           const ProgressFn& progress, const CancelToken& cancel) {
  return guarded("volume.download", [&] {
    const Volume v = get_volume(pool, name);
    TransferOptions o;
    download_volume(pool, name, local_path, o, progress, cancel);
    // A volume without a probed format holds raw bytes.
    return v.format.empty() || v.format == "none" ? std::string("raw") : v.format;
  });
}

ImportFormat LibvirtStorageOps::import_format(const std::string& format) {
  // QEMU runs qcow2 and raw natively; anything else becomes qcow2.
  if (format == "raw") return {"raw", ".img"};
  return {"qcow2", ".qcow2"};
}

Volume LibvirtStorageOps::import_disk(const VolumeSpec& spec, const std::string& local_path,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  return guarded("volume.upload", [&] {
    const std::string op = "volume.upload";
    // The upload refuses an existing volume (AlreadyExists) and leaves none
    // behind when it fails; its staging volume is raw, the pool probes the
    // format of the bytes once they are there.
    TransferOptions o;
    upload_volume(spec.pool, spec.name, local_path, o, progress, cancel);
    Volume v = get_volume(spec.pool, spec.name);
    if (!spec.format.empty() && v.format != spec.format) {
      remove_volume(spec.pool, spec.name);
      throw Error(ErrorCode::BackendFailure,
                  "volume " + storage::volume_label(spec.pool, spec.name) + " arrived as " +
                      (v.format.empty() ? std::string("an unknown format") : v.format) + ", not " +
                      spec.format + "; it was deleted",
                  op);
    }
    return v;
  });
}

}  // namespace hyperctl::lv
