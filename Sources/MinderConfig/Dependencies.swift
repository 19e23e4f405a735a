// depends_on= as a graph over processes: which processes each name means, what waits for
// what, and what a config must not hold (a name that means nothing, a process that waits for
// itself, a cycle). The loader reports the problems with their lines; minderd's loop uses the
// edges, rebuilt whenever its process table changes shape.

public struct DependencyGraph: Sendable {
    public struct Edge: Sendable, Equatable {
        /// The process waited for, by its index in the list the graph was made from.
        public let process: Int
        public let condition: DependencyCondition
    }

    public struct Problem: Sendable {
        public let process: Int
        public let message: String
    }

    /// What each process waits for.
    public private(set) var edges: [[Edge]]
    /// The processes that wait for each one.
    public private(set) var dependents: [[Int]]
    public private(set) var problems: [Problem] = []

    /// `processes` in the process table's order. A name is a group (every process in it), else a
    /// program (every process its section makes, numprocs included), else one `group:process`.
    public init(_ processes: [(group: String, config: ProcessConfig)]) {
        var byGroup: [String: [Int]] = [:], byProgram: [String: [Int]] = [:], byNamespec: [String: Int] = [:]
        for (i, p) in processes.enumerated() {
            byGroup[p.group, default: []].append(i)
            byProgram[p.config.programName, default: []].append(i)
            byNamespec["\(p.group):\(p.config.name)"] = i
        }
        edges = Array(repeating: [], count: processes.count)
        dependents = Array(repeating: [], count: processes.count)
        for (i, p) in processes.enumerated() {
            for d in p.config.dependsOn {
                guard let targets = byGroup[d.name] ?? byProgram[d.name] ?? byNamespec[d.name].map({ [$0] }) else {
                    problems.append(Problem(process: i, message: "\(d.name.pyRepr) is no group, program or group:process"))
                    continue
                }
                if targets.contains(i) {
                    problems.append(Problem(process: i, message: "\(d.name.pyRepr) includes this program itself"))
                    continue
                }
                if d.condition == .completed, let always = targets.first(where: { processes[$0].config.autorestart == .always }) {
                    problems.append(Problem(process: i, message: "\(d.name):completed waits for an exit, but \(Self.namespec(processes[always])) has autorestart=true and is started again at once; it would wait forever"))
                    continue
                }
                for t in targets where !edges[i].contains(where: { $0.process == t }) {
                    edges[i].append(Edge(process: t, condition: d.condition))
                    dependents[t].append(i)
                }
            }
        }
        for cycle in cycles() {
            var names = cycle.map { Self.namespec(processes[$0]) }
            if names.count > 8 { names = names.prefix(6) + ["... (\(names.count) in all)", names[names.count - 1]] }
            names.append(names[0])
            problems.append(Problem(process: cycle[0], message: "a dependency cycle: \(names.joined(separator: " -> "))"))
        }
    }

    static func namespec(_ p: (group: String, config: ProcessConfig)) -> String {
        p.group == p.config.name ? p.group : "\(p.group):\(p.config.name)"
    }

    /// One cycle for each edge that closes one, found by a depth-first walk without recursion
    /// (a chain may be thousands long).
    func cycles() -> [[Int]] {
        enum Mark { case unseen, onPath, done }
        var mark = [Mark](repeating: .unseen, count: edges.count)
        var found: [[Int]] = []
        for root in edges.indices where mark[root] == .unseen {
            var path: [(node: Int, next: Int)] = [(root, 0)]
            mark[root] = .onPath
            while let (node, next) = path.last {
                guard next < edges[node].count else {
                    mark[node] = .done
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let target = edges[node][next].process
                switch mark[target] {
                case .unseen:
                    mark[target] = .onPath
                    path.append((target, 0))
                case .onPath:
                    found.append(Array(path.map(\.node).drop { $0 != target }))
                case .done:
                    break
                }
            }
        }
        return found
    }
}
