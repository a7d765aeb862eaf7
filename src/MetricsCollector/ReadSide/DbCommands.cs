using System.Data.Common;

namespace MetricsCollector.ReadSide;

/// <summary>ADO.NET commands as the result store and the snapshot store build them, on either database.</summary>
internal static class DbCommands
{
    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, TimeSpan? timeout = null)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        if (timeout is { } t) command.CommandTimeout = (int)t.TotalSeconds;
        return command;
    }

    public static DbParameter Bind(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
