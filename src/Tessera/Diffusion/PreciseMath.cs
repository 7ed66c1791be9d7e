namespace Tessera.Diffusion;

/// <summary>Scalar functions the schedules, preconditioners and samplers need more precisely than the obvious formula gives.</summary>
internal static class PreciseMath
{
    /// <summary>exp(x) − 1 without cancellation for small x (Kahan's method; .NET's double.ExpM1 is exp(x) − 1).</summary>
    public static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        if (double.IsPositiveInfinity(u)) return u;
        return um1 * x / Math.Log(u);
    }
}
