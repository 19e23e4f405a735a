/// Where minderd and minderctl look for a config when -c is not given:
/// supervisord's places, and in each one minder.conf before supervisord.conf.
public enum ConfigSearch {
    /// `executable` is argv[0]; `here` is the directory above the one holding it, as in supervisord.
    public static func candidates(executable: String) -> [String] {
        let here = Paths.dirname(Paths.dirname(executable))
        let places = [Paths.join(here, "etc"), here, "", "etc", "/etc", "/etc/supervisor"]
        return places.flatMap { dir in
            ["minder.conf", "supervisord.conf"].map { dir.isEmpty ? $0 : Paths.join(dir, $0) }
        }
    }

    public static func find(executable: String, files: any ConfigFileSystem) -> String? {
        candidates(executable: executable).first { files.exists($0) && !files.isDirectory($0) }
    }
}
