import Foundation
import ChildProcess

/// What the tests start goes through minderd's own child path (Tests/ChildProcess says why).
typealias Process = ChildProcess
