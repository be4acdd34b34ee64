// A fixed pool of worker threads owned by one model. parallel_for blocks the
// caller until every task has run; the calling thread takes part in the work,
// so a pool of size 1 has no extra threads at all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace crossrank {

class ThreadPool {
 public:
  // threads >= 1: total number of threads that run tasks, the caller included.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Runs task(i) for every i in [0, count), spread over the pool's threads.
  // Not re-entrant: a task must not call parallel_for on the same pool.
  // Calls from several threads at once are serialised. If a task throws, the
  // indices not yet started are skipped and the first exception is rethrown
  // here once every thread has stopped.
  void parallel_for(std::size_t count, const std::function<void(std::size_t)>& task);

 private:
  void worker_loop();
  void run_tasks();

  int size_;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // Set under mutex_ before a generation starts; read-only while it runs.
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};  // next index to hand out
  std::size_t generation_ = 0;        // bumped once per parallel_for
  int busy_workers_ = 0;              // workers not yet done with this generation
  std::exception_ptr error_;
  bool stop_ = false;
};

// Hardware threads available to this process (at least 1).
int default_thread_count();

}  // namespace crossrank
