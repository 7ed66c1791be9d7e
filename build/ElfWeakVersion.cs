// Marks one symbol-version requirement of an ELF64 little-endian shared object as weak.
//
// TorchSharp 0.107's libLibTorchSharp.so was linked with GCC 13 and asks for GLIBCXX_3.4.32,
// which Debian 12's libstdc++ (GCC 12, up to GLIBCXX_3.4.30) lacks, so the dynamic loader refuses
// it. The only symbol bound to that version is std::ios_base_library_init(), which has no
// relocation, so the requirement can be made weak (VER_FLG_WEAK in vna_flags of its Vernaux entry
// in .gnu.version_r): the loader then only warns about it in debug mode and loads the library.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory for the build step in
// build/Tessera.Native.targets, and into the test project (with TESSERA_NO_MSBUILD defined) so
// that the patch itself is tested.
using System;
using System.IO;
using System.Text;

namespace Tessera.Build
{
    /// <summary>Outcome of <see cref="ElfWeakVersion.Patch(string, string)"/>.</summary>
    public enum ElfPatchResult
    {
        /// <summary>The requirement was strong and has been made weak.</summary>
        Patched,
        /// <summary>The requirement was already weak; nothing was written.</summary>
        AlreadyWeak,
        /// <summary>The file does not require that version; nothing was written.</summary>
        NotRequired,
    }

    /// <summary>Reads and edits the version-needs table (.gnu.version_r) of an ELF64 LE file.</summary>
    public static class ElfWeakVersion
    {
        /// <summary>VER_FLG_WEAK from elf.h.</summary>
        public const ushort VerFlagWeak = 0x2;

        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>Finds the vna_flags of every Vernaux entry named <paramref name="version"/>.</summary>
        /// <returns>Byte offsets (into <paramref name="elf"/>) of each matching vna_flags field.</returns>
        public static int[] FindFlagOffsets(byte[] elf, string version)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file (bad magic)");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("only ELF64 little-endian files are supported");

            long shoff = (long)U64(elf, 0x28);
            int shentsize = U16(elf, 0x3A);
            int shnum = U16(elf, 0x3C);
            var found = new System.Collections.Generic.List<int>();
            for (int i = 0; i < shnum; i++)
            {
                long sh = shoff + (long)i * shentsize;
                Check(elf, sh, 64);
                if (U32(elf, sh + 4) != ShtGnuVerneed) continue;
                long offset = (long)U64(elf, sh + 0x18);
                uint link = U32(elf, sh + 0x28);
                uint entries = U32(elf, sh + 0x2C); // sh_info: number of Verneed entries
                long strSh = shoff + (long)link * shentsize;
                Check(elf, strSh, 64);
                long strOff = (long)U64(elf, strSh + 0x18);

                long vn = offset;
                for (uint e = 0; e < entries; e++)
                {
                    Check(elf, vn, 16);
                    int cnt = U16(elf, vn + 2);
                    long vna = vn + U32(elf, vn + 8);
                    for (int a = 0; a < cnt; a++)
                    {
                        Check(elf, vna, 16);
                        string name = CString(elf, strOff + U32(elf, vna + 8));
                        if (name == version) found.Add(checked((int)(vna + 4)));
                        uint next = U32(elf, vna + 12);
                        if (next == 0) break;
                        vna += next;
                    }
                    uint vnNext = U32(elf, vn + 12);
                    if (vnNext == 0) break;
                    vn += vnNext;
                }
            }
            return found.ToArray();
        }

        /// <summary>True when every requirement of <paramref name="version"/> is weak (or there is none).</summary>
        public static bool IsWeak(string path, string version)
        {
            byte[] elf = File.ReadAllBytes(path);
            foreach (int at in FindFlagOffsets(elf, version))
                if ((U16(elf, at) & VerFlagWeak) == 0) return false;
            return true;
        }

        /// <summary>
        /// Makes the requirement of <paramref name="version"/> weak. Idempotent; writes through a
        /// temporary file and a rename (so a hard link into a package cache is never edited in place)
        /// and keeps the file's modification time, so incremental copies stay incremental.
        /// </summary>
        public static ElfPatchResult Patch(string path, string version)
        {
            byte[] elf = File.ReadAllBytes(path);
            int[] offsets = FindFlagOffsets(elf, version);
            if (offsets.Length == 0) return ElfPatchResult.NotRequired;
            bool changed = false;
            foreach (int at in offsets)
            {
                ushort flags = U16(elf, at);
                if ((flags & VerFlagWeak) != 0) continue;
                flags |= VerFlagWeak;
                elf[at] = (byte)flags;
                elf[at + 1] = (byte)(flags >> 8);
                changed = true;
            }
            if (!changed) return ElfPatchResult.AlreadyWeak;

            // Copy (keeps the file mode), edit the copy, then replace the original by rename.
            // APIs kept to netstandard2.0: MSBuild's RoslynCodeTaskFactory compiles against it.
            DateTime stamp = File.GetLastWriteTimeUtc(path);
            string temp = path + ".tessera-tmp";
            File.Copy(path, temp, true);
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
            {
                foreach (int at in offsets)
                {
                    stream.Position = at;
                    stream.Write(elf, at, 2);
                }
            }
            File.Delete(path);
            File.Move(temp, path);
            File.SetLastWriteTimeUtc(path, stamp);
            return ElfPatchResult.Patched;
        }

        private static void Check(byte[] b, long at, int size)
        {
            if (at < 0 || at + size > b.Length) throw new InvalidDataException("ELF structure points outside the file");
        }

        private static ushort U16(byte[] b, long at) { Check(b, at, 2); return (ushort)(b[at] | b[at + 1] << 8); }
        private static uint U32(byte[] b, long at) { Check(b, at, 4); return BitConverter.ToUInt32(b, (int)at); }
        private static ulong U64(byte[] b, long at) { Check(b, at, 8); return BitConverter.ToUInt64(b, (int)at); }

        private static string CString(byte[] b, long at)
        {
            long end = at;
            while (end < b.Length && b[end] != 0) end++;
            Check(b, at, (int)(end - at));
            return Encoding.ASCII.GetString(b, (int)at, (int)(end - at));
        }
    }

#if !TESSERA_NO_MSBUILD
    /// <summary>MSBuild task: makes <see cref="Version"/> weak in each of <see cref="Files"/>.</summary>
    public class TesseraWeakenElfVersion : Microsoft.Build.Utilities.Task
    {
        /// <summary>The shared objects to patch.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <summary>The version requirement to make weak, e.g. GLIBCXX_3.4.32.</summary>
        [Microsoft.Build.Framework.Required]
        public string Version { get; set; } = "";

        /// <inheritdoc />
        public override bool Execute()
        {
            foreach (var item in Files)
            {
                string path = item.GetMetadata("FullPath");
                try
                {
                    ElfPatchResult result = ElfWeakVersion.Patch(path, Version);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "{0}: {1} {2}", path, Version, result);
                }
                catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
                {
                    Log.LogError("Tessera: could not mark {0} weak in {1}: {2}", Version, path, e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
