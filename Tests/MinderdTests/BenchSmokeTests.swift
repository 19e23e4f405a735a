import Foundation
import Testing

/// bench/bench.py at its tiny size against Minder, so the benchmark scripts cannot rot.
/// (The side-by-side run with supervisord is `bench/run`, outside the test suite.)
@Suite struct BenchSmokeTests {
    @Test func everyScenarioRunsOnceAtATinySize() throws {
        let bin = (minderdPath as NSString).deletingLastPathComponent
        let r = try run("/usr/bin/env", ["python3", packageRoot.path + "/bench/bench.py", "--minder", bin, "--smoke"],
                        timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("minder 5 {") && r.stdout.contains("minder restart {'restart_ms'"))
        #expect(r.stdout.contains("minder chain {'chain_s'") && r.stdout.contains("minder HTTP probes {'probes_cpu_s'"), "\(r.stdout)")
    }
}
