// depends_on= at run time: a start waits until what the process depends on has reached its
// condition, and starts what it needs first; shutdown stops dependents before what they need.
// The graph is rebuilt whenever the process table changes shape (start, reload, update).

import Logging
import MinderConfig

extension Supervisor {
    func rebuildGraph() {
        graph = DependencyGraph(entries.map { (group: $0.group, config: $0.machine.config) })
        // A config's own problems were errors when it was read; these come only from an update of
        // some groups, whose names can meet others that were never read together.
        for problem in graph.problems {
            logger.warning("depends_on of \(entries[problem.process].namespec): \(problem.message); the dependency is ignored")
        }
    }

    /// Whether what `edge` waits for has reached its condition.
    func met(_ edge: DependencyGraph.Edge) -> Bool {
        // Read in place: a copy of the entry would retain and release all it holds.
        let state = entries[edge.process].machine.state
        switch edge.condition {
        case .started: return state == .starting || state == .running
        case .ready: return state == .running && entries[edge.process].machine.ready != false
        case .healthy: return state == .running && entries[edge.process].machine.ready != false && entries[edge.process].healthy != false
        case .completed: return state == .exited && entries[edge.process].machine.lastExitExpected == true
        }
    }

    /// The first dependency of `i` that is not met, if any.
    func unmet(_ i: Int) -> DependencyGraph.Edge? { graph.edges[i].first { !met($0) } }

    /// A start of `i`: at once when every dependency is met; otherwise `i` waits, and with `pull`
    /// what it waits for is started too (and what that needs, first).
    func requestStart(_ i: Int, pull: Bool) {
        var visited = Set<Int>()
        requestStart(i, pull: pull, visited: &visited)
    }

    private func requestStart(_ i: Int, pull: Bool, visited: inout Set<Int>) {
        guard visited.insert(i).inserted else { return }
        entries[i].machine.autoRestartAllowed = true
        if pull {
            for edge in graph.edges[i] where !met(edge) && !entries[edge.process].waiting {
                let state = entries[edge.process].machine.state
                // What is on its way up (or down, for a restart) is left to get there.
                if state.isRunningState || state == .stopping { continue }
                requestStart(edge.process, pull: true, visited: &visited)
            }
        }
        // A dependency whose spawn is still out is STARTING without knowing whether its exec
        // worked: the batch is finished up to its spawn (in order) before `started` counts it.
        if let last = spawnBatch?.lastIndex(where: { out in graph.edges[i].contains { $0.process == out.entry } }) {
            finishBatchedSpawns(count: last + 1)
        }
        if unmet(i) == nil {
            if entries[i].waiting { setWaiting(i, false) }
            feed(i, .start)
        } else if !entries[i].waiting {
            setWaiting(i, true)
            logger.info("waiting: \(entries[i].machine.name) for \(waitReason(i))")
        }
    }

    func setWaiting(_ i: Int, _ waiting: Bool) {
        entries[i].waiting = waiting
        entries[i].waitingFor = waiting ? waitReason(i) : ""
        bridge.board.update(i, info(i), exits: entries[i].machine.exits)
    }

    /// After a turn of the loop that changed a process: each waiting process whose dependencies
    /// are all met starts (which may let others start in the same pass), and the rest show what
    /// they wait for now.
    func advanceWaiting() {
        guard dependenciesChanged, case .running = mood else { return }
        dependenciesChanged = false
        var started = true
        while started {
            started = false
            for i in entries.indices where entries[i].waiting && unmet(i) == nil {
                setWaiting(i, false)
                feed(i, .start)
                started = true
            }
        }
        // Only those whose reason changed: a long chain would otherwise redo every record per link.
        var stuck: [Int: Bool] = [:]
        for i in entries.indices where entries[i].waiting {
            let reason = waitReason(i, stuck: &stuck)
            guard reason != entries[i].waitingFor else { continue }
            entries[i].waitingFor = reason
            bridge.board.update(i, info(i), exits: entries[i].machine.exits)
        }
    }

    /// What a waiting process waits for, for its status line and log: `db to be ready`, or, when
    /// nothing is bringing it there, `db, which is FATAL`.
    func waitReason(_ i: Int) -> String {
        var stuck: [Int: Bool] = [:]
        return waitReason(i, stuck: &stuck)
    }

    /// `stuck` remembers what isStuck found in one pass, so that a chain is walked once, not once
    /// per link.
    func waitReason(_ i: Int, stuck: inout [Int: Bool]) -> String {
        guard let edge = unmet(i) else { return "" }
        let namespec = entries[edge.process].namespec
        if isStuck(edge, memo: &stuck) { return "\(namespec), which is \(entries[edge.process].machine.state)" }
        let goal = switch edge.condition {
        case .started: "to start"
        case .ready: "to be ready"
        case .healthy: "to be healthy"
        case .completed: "to complete"
        }
        return "\(namespec) \(goal)"
    }

    /// A dependency that nothing will bring to its condition without someone's action: FATAL, or
    /// stopped or exited (with the wrong code, for `completed`) and not itself waiting to start,
    /// or waiting for one such.
    func isStuck(_ edge: DependencyGraph.Edge) -> Bool {
        var memo: [Int: Bool] = [:]
        return isStuck(edge, memo: &memo)
    }

    /// Walks down the chain of waiting processes without recursion (and without copying entries);
    /// `memo` holds, for each waiting process met, whether what it waits for is stuck.
    func isStuck(_ edge: DependencyGraph.Edge, memo: inout [Int: Bool]) -> Bool {
        var path: [Int] = []
        var current = edge
        var answer = false
        while true {
            let p = current.process
            if let known = memo[p] {
                answer = known
                break
            }
            if entries[p].waiting {
                // A cycle (from an update of some groups) or a dependency met meanwhile: not stuck.
                guard !path.contains(p), let next = unmet(p) else { break }
                path.append(p)
                current = next
                continue
            }
            answer = switch entries[p].machine.state {
            case .fatal, .stopped, .unknown: true
            case .exited: current.condition != .completed || entries[p].machine.lastExitExpected != true
            case .starting, .running, .backoff, .stopping: false
            }
            break
        }
        for p in path { memo[p] = answer }
        return answer
    }

    /// Shutdown's order with dependencies: a process stops only once nothing alive depends on it,
    /// directly or through others (app on db through a one-shot migrate that has exited).
    func holdsUpStop(_ i: Int, alive: Set<Int>) -> Bool {
        var seen: Set<Int> = [i], next = graph.dependents[i]
        while let d = next.popLast() {
            guard seen.insert(d).inserted else { continue }
            if alive.contains(d) { return true }
            next += graph.dependents[d]
        }
        return false
    }
}
